"""What the scoring service holds in memory per lead (`LeadMemory`: classified event times, merged
profile, cached fit with its explanation lines), scaled to 100,000 leads.

    python bench/scoring_memory.py [--leads 10000] [--events-per-lead 10]

Feeds the benchmark's input (`scoring_throughput.sample`: a profile, then engagement) through the
service's own memory code and measures the allocations that stay (tracemalloc). The process around it
(interpreter, libraries, connections, batches in flight) is the service's peak RSS minus this; the
throughput benchmark reports that RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring_throughput import sample

from baton_contracts import parse_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_scoring.rules import Classified
from baton_scoring.service import LeadMemory, _Fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--events-per-lead", type=int, default=10)
    args = parser.parse_args()
    scoring = load_definitions(EXAMPLE_PATH).definitions.scoring
    events = [parse_event(value) for value in sample(args.leads * args.events_per_lead, args.leads)]
    gc.collect()
    tracemalloc.start()
    memories: dict[str, LeadMemory] = {}
    for event in events:
        memory = memories.setdefault(event.data.lead_id, LeadMemory(Classified(scoring.engagement)))
        fresh = _Fresh.of(event)
        assert fresh is not None  # the sample holds engagement and profile events only
        fresh.apply_to(memory)
        if memory.fit is None:
            memory.refit(memory.merged_profile(), scoring)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    per_lead = held / len(memories)
    print(
        json.dumps(
            {
                "leads": len(memories),
                "events_per_lead": args.events_per_lead,
                "bytes_per_lead": round(per_lead),
                "mb_per_100k_leads": round(per_lead * 100_000 / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
