"""Write a service's OpenAPI document without starting it (no database, no broker).

python -m baton_kit.openapi baton_handoff.app:create_app baton_handoff.settings:HandoffSettings out.json
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

# Placeholders: building the app reads settings but connects to nothing (that happens in its lifespan).
OFFLINE_SETTINGS = {"database_url": "sqlite+aiosqlite:///:memory:", "kafka_bootstrap_servers": "127.0.0.1:9"}


def _load(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def openapi_document(factory: str, settings_class: str) -> dict[str, Any]:
    settings = _load(settings_class)(**OFFLINE_SETTINGS)
    document: dict[str, Any] = _load(factory)(settings).openapi()
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    factory, settings_class, out = argv
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render(openapi_document(factory, settings_class)), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
