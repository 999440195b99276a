"""The benchmark scripts that need no broker still run, and what they measure stays in budget.

`make bench` is not part of CI, so without this a refactor can break a script unnoticed (it did once).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_scoring_memory_per_lead_stays_near_its_events() -> None:
    """A held lead (profile, ten events, fit and its explanation) costs ~3.3 kB. 4.5 kB would mean
    something held is bloated; orjson's output, for one, sits in a 4 KiB buffer unless copied."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "scoring_memory.py"), "--leads", "300"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["leads"] == 300
    assert 1_000 < report["bytes_per_lead"] < 4_500
