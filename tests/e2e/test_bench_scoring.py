"""The scoring throughput benchmark in a tiny form: the real service process, broker and SQLite.

`make bench` is not part of CI; this keeps `bench/scoring_throughput.py` running (its peers need their
own virtualenv, so only the raw loop and the SQLite service run here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_scoring_throughput_bench_applies_every_event() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "scoring_throughput.py"),
            "--only",
            "raw,sqlite",
            "--events",
            "900",
            "--leads",
            "90",
            "--repeat",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results = {r["contender"]: r for r in json.loads(done.stdout)["results"]}
    assert results["raw"]["records"] == 900
    assert results["raw"]["cpu_us_per_event"] > 0
    service = results["service-sqlite"]
    assert service["records"] == 900
    assert 90 <= service["lead_scored_emitted"] <= 900  # every lead scored, at most once per event
    assert service["lead_memory_misses"] == 0  # one process, nothing else writes: memory stays current
    assert service["ratio_to_raw"] > 0
    # two rounds: each one's ratio to raw in that round, and their median (the lower of two)
    assert len(service["rounds_ratio_to_raw"]) == 2
    assert service["paired_ratio_to_raw"] == min(service["rounds_ratio_to_raw"]) > 0
