"""Write the JSON Schema of every contract into `schemas/json/` (`python -m baton_contracts.export`).

A test regenerates them in memory and fails when the files drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from baton_contracts.crm_webhook import CRM_WEBHOOK_BODIES
from baton_contracts.definitions import Definitions
from baton_contracts.envelope import CloudEvent
from baton_contracts.events import EVENT_DATA_MODELS

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "json"


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema: each event type's full envelope, each CRM webhook body, the definitions."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type, model in EVENT_DATA_MODELS.items():
        schema = CloudEvent[model].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = event_type.value
        schema["properties"]["type"] = {"const": event_type.value, "title": "Type", "type": "string"}
        schemas[f"{event_type.value}.schema.json"] = schema
    for body_type, model in CRM_WEBHOOK_BODIES.items():
        schemas[f"crm-webhook.{body_type}.schema.json"] = model.model_json_schema()
    schemas["definitions.schema.json"] = Definitions.model_json_schema()
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(out: Path = DEFAULT_OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    expected = all_schemas()
    for stale in out.glob("*.schema.json"):
        if stale.name not in expected:
            stale.unlink()
    for name, schema in expected.items():
        (out / name).write_text(render(schema), encoding="utf-8")
    print(f"wrote {len(expected)} schemas to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
