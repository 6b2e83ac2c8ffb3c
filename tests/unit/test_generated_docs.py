"""docs/api holds the OpenAPI and AsyncAPI documents the code generates (run `tthc docs` after a change)."""

from __future__ import annotations

import json

from services.cli.docs import DOCS_DIR, render_docs


def test_generated_api_documents_are_current() -> None:
    for name, text in render_docs().items():
        path = DOCS_DIR / name
        assert path.exists(), f"docs/api/{name} missing: run `tthc docs`"
        assert path.read_text(encoding="utf-8") == text, (
            f"docs/api/{name} is stale: run `tthc docs` and commit"
        )


def test_the_documents_describe_the_contracts() -> None:
    docs = {name: json.loads(text) for name, text in render_docs().items()}
    assert "/api/v1/dossiers/{code}" in docs["processing.openapi.json"]["paths"]
    assert "/api/v1/events" in docs["processing.openapi.json"]["paths"]
    assert "/api/v1/reports/form06" in docs["reporting.openapi.json"]["paths"]
    channels = json.dumps(docs["processing.asyncapi.json"]["channels"])
    assert "tthc.dossier-events.v1" in channels and "tthc.compliance.v1" in channels
    assert "tthc.registry.v1" in json.dumps(docs["registry.asyncapi.json"]["channels"])
