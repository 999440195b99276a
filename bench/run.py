"""Run every benchmark in its short form (`make bench`); pass `--full` for the sizes the issues ask for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

SHORT = [
    ["ingest_throughput.py", "--seconds", "3"],
    ["scoring_throughput.py"],
    ["scoring_memory.py", "--leads", "2000"],
    ["sla_timer.py", "--quick"],
    ["speed_to_lead.py", "--rate", "100", "--leads", "500"],
]
FULL = [
    ["ingest_throughput.py", "--seconds", "10"],
    ["ingest_throughput.py", "--seconds", "10", "--db", "postgresql"],
    ["scoring_throughput.py", "--full"],
    ["scoring_memory.py"],
    ["sla_timer.py"],
    ["speed_to_lead.py", "--rate", "500"],
]


def main() -> None:
    runs = FULL if "--full" in sys.argv[1:] else SHORT
    for script, *args in runs:
        print(f"== {script} {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True)


if __name__ == "__main__":
    main()
