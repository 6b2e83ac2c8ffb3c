"""Generated contract documents: OpenAPI of each HTTP API, AsyncAPI of each service's Kafka side."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "api"

# Placeholders: building an app connects to nothing, but the settings must name a broker and a database.
_ENV = {"database_url": "postgresql://tthc@postgres:5432/tthc", "kafka_bootstrap_servers": "kafka:9092"}


def _apps() -> dict[str, Callable[[], FastAPI]]:
    from services.processing.bootstrap import create_app as processing
    from services.processing.settings import ProcessingSettings
    from services.registry.bootstrap import create_app as registry
    from services.registry.settings import RegistrySettings
    from services.reporting.bootstrap import create_app as reporting
    from services.reporting.settings import ReportingSettings

    return {
        "registry": lambda: registry(RegistrySettings(**_ENV)),  # type: ignore[arg-type]
        "processing": lambda: processing(ProcessingSettings(**_ENV)),  # type: ignore[arg-type]
        "reporting": lambda: reporting(ReportingSettings(**_ENV)),  # type: ignore[arg-type]
    }


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def render_docs() -> dict[str, str]:
    """File name → document text, deterministic."""
    from faststream.specification import AsyncAPI

    out: dict[str, str] = {}
    for name, make in _apps().items():
        app = make()
        out[f"{name}.openapi.json"] = _dump(app.openapi())
        spec = AsyncAPI(app.state.broker, title=f"TTHC Monitor — {name}", version="0.1.0").to_specification()
        out[f"{name}.asyncapi.json"] = _dump(spec.to_jsonable())
    return out


def write_docs(directory: Path = DOCS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_docs().items():
        (directory / name).write_text(text, encoding="utf-8")
        written.append(directory / name)
    return written
