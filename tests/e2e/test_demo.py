"""The README's first command, in a short form: the embedded runner starts its broker, the three
services and a stand-in CRM, replays a sample funnel and exits 0 with a summary that found no problem."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from baton_kit.broker import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_embedded_demo_runs_the_whole_funnel_and_the_crm_receives_every_assignment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "CRM_WEBHOOK_URL")}
    ports = [f"--{name}-port={free_port()}" for name in ("handoff", "scoring", "sla-monitor")]
    result = subprocess.run(
        [
            sys.executable,
            "deploy/run_embedded.py",
            "--once",
            "--leads=60",
            "--weeks=1",
            f"--data-dir={tmp_path}",
            *ports,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "PROBLEMS" not in output
    crm = re.search(r"CRM webhook +delivered (\d+), pending (\d+), failed (\d+)", output)
    assigned = re.search(r"of (\d+) assigned leads", output)
    assert crm is not None and assigned is not None, output[-3000:]
    delivered, pending, failed = (int(n) for n in crm.groups())
    assert (pending, failed) == (0, 0)
    assert delivered >= int(assigned.group(1)) > 0  # every assignment (and any reassignment) reached the CRM
    assert "Stopped everything this runner started." in output
