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


def test_validate_refuses_a_fast_track_signal_scoring_never_reports(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["qualification"]["fast_track"]["signals"] = ["demo_requets", "contact_sales"]
    bad = tmp_path / "definitions.yaml"
    bad.write_text(yaml.safe_dump(document))
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert "qualification.fast_track.signals: demo_requets is not a signal scoring reports" in result.stderr
    assert "pricing_page_view+form_submit" in result.stderr, "it lists the signals scoring does report"


def test_validate_warns_of_routing_to_teams_and_reps_the_definitions_do_not_declare(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["routing"]["rules"] = [
        {"name": "emea", "when": {"countries": ["FR"]}, "team": "emea"},
        {"name": "whales", "when": {"segments": ["enterprise"]}, "rep": "ana.ortiz"},
        {"name": "partners", "when": {"sources": ["partner-portal"]}, "rep": "paula.partner"},
    ]
    candidate = tmp_path / "definitions.yaml"
    candidate.write_text(yaml.safe_dump(document))
    result = run("validate", str(candidate))
    assert result.returncode == 0, result.stderr
    warnings = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("warning:")]
    assert [w.split(":")[1].strip() for w in warnings] == ["routing.rules.0.team", "routing.rules.2.rep"]
    assert "leads wait in unrouted" in warnings[0] and "go to the default team" in warnings[1]
    assert "warning" not in run("validate", str(EXAMPLE_PATH)).stdout
