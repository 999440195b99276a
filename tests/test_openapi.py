"""The committed OpenAPI documents (schemas/openapi/) are what the services serve: regenerate with `make schemas`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton_kit.openapi import openapi_document, render

ROOT = Path(__file__).resolve().parent.parent
SERVICES = [
    ("handoff", "baton_handoff", "HandoffSettings"),
    ("scoring", "baton_scoring", "ScoringSettings"),
    ("sla-monitor", "baton_sla_monitor", "SlaMonitorSettings"),
]


@pytest.mark.parametrize(("name", "package", "settings"), SERVICES)
def test_committed_openapi_matches_the_service(name: str, package: str, settings: str) -> None:
    served = render(openapi_document(f"{package}.app:create_app", f"{package}.settings:{settings}"))
    committed = (ROOT / "schemas" / "openapi" / f"{name}.json").read_text(encoding="utf-8")
    assert served == committed, f"schemas/openapi/{name}.json is stale: run `make schemas`"


@pytest.mark.parametrize(("name", "package", "settings"), SERVICES)
def test_every_operation_documents_its_errors_and_summary(name: str, package: str, settings: str) -> None:
    document = json.loads((ROOT / "schemas" / "openapi" / f"{name}.json").read_text(encoding="utf-8"))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            if path.startswith("/v1/") and "{" in path:
                assert "404" in operation["responses"], f"{method.upper()} {path} does not document 404"
