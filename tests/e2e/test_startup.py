"""A service with a wrong setting refuses to start and says which one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("module", ["baton_scoring", "baton_handoff", "baton_sla_monitor"])
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT"),
        ({"KAFKA_SESSION_TIMEOUT_MS": "5"}, "KAFKA_SESSION_TIMEOUT_MS"),
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_service_with_a_wrong_setting_stops_at_start_naming_it(
    module: str, env: dict[str, str | None], named: str
) -> None:
    base = {"DATABASE_URL": "sqlite+aiosqlite:///unused.db", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    merged = {**{k: v for k, v in os.environ.items() if k not in base and k not in env}, **base, **env}
    clean = {k: v for k, v in merged.items() if v is not None}
    result = subprocess.run([sys.executable, "-m", module], env=clean, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_definitions_key_stops_the_service_naming_the_key_and_its_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "definitions.yaml"
    bad.write_text(
        "scoring:\n  activity_points: {page_view: 1}\nqualification:\n  mql_treshold: 50\n"
        "routing:\n  reps: [{id: ana, name: Ana, email: ana@example.com}]\n"
        "sla:\n  acceptance: {name: std, target_seconds: 60}\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "DEFINITIONS_PATH": str(bad),
    }
    result = subprocess.run(
        [sys.executable, "-m", "baton_scoring"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "qualification.mql_treshold" in result.stderr
    assert "Traceback" not in result.stderr
