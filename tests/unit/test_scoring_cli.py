"""`python -m baton_scoring validate`: every error with its path, exit 1; a good file prints its version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from baton_contracts.definitions import EXAMPLE_PATH, load_definitions


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "baton_scoring", *args], capture_output=True, text=True, timeout=60)


def test_validate_accepts_the_shipped_example_and_prints_its_version() -> None:
    result = run("validate", str(EXAMPLE_PATH))
    assert result.returncode == 0, result.stderr
    assert load_definitions(EXAMPLE_PATH).version in result.stdout


def test_validate_names_every_bad_key_with_its_path(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["scoring"]["fit"]["grades"]["E"] = 10
    document["scoring"]["engagement"]["rules"][2]["dailycap"] = 1
    bad = tmp_path / "definitions.yaml"
    bad.write_text(yaml.safe_dump(document))
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert "scoring.fit.grades.E: Extra inputs are not permitted" in result.stderr
    assert "scoring.engagement.rules.2.dailycap: Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr
