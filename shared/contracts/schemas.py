"""JSON Schemas of the contracts, generated into ``shared/contracts/schemas/``.

``tthc schemas`` writes them; a test fails when a model and its committed schema differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from shared.contracts.compliance import DossierAssessment
from shared.contracts.events import DossierEvent
from shared.contracts.registry import RECORD_MODELS, RegistryChange

SCHEMA_DIR = Path(__file__).with_name("schemas")

_CONTRACTS: dict[str, Any] = {
    "tthc.dossier-events.v1.json": DossierEvent,
    "tthc.compliance.v1.json": DossierAssessment,
    "tthc.registry.v1.json": RegistryChange,
    **{f"registry.{kind}.v1.json": model for kind, model in RECORD_MODELS.items()},
}


def render_schemas() -> dict[str, str]:
    """File name → JSON Schema text, deterministic."""
    return {
        name: json.dumps(
            TypeAdapter(model).json_schema(mode="validation"), indent=2, ensure_ascii=False, sort_keys=True
        )
        + "\n"
        for name, model in _CONTRACTS.items()
    }


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
