"""`baton-handoff` (or `python -m baton_handoff`) runs the service. One command does not:

python -m baton_handoff simulate --candidate FILE [--current FILE] [--database-url URL]
                                 [--since ISO] [--until ISO] [--json] [--scores FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions.candidates import add_simulate_arguments, definitions_to_compare
from baton_contracts.events import LeadScored
from baton_handoff.app import create_app
from baton_handoff.settings import HandoffSettings
from baton_handoff.simulate import HandoffSimulation, Stored, load, simulate
from baton_kit.db import read_once
from baton_kit.runtime import run_service

ACCEPTANCE_HISTORY = timedelta(days=90)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        run_service(HandoffSettings, create_app)
        return
    parser = argparse.ArgumentParser(prog="baton-handoff", description="Baton handoff tools")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser(
        "simulate", help="which leads a candidate definitions file would make MQLs, and who would get them"
    )
    add_simulate_arguments(
        simulate,
        since="leads last scored from (ISO 8601 with offset); default: all",
        until="leads last scored until; default: now",
    )
    simulate.add_argument(
        "--scores",
        type=Path,
        help="the leads' scores under the candidate (`python -m baton_scoring simulate --scores-out`), read in "
        "place of the kept ones on the candidate side: what a scoring change does to MQLs and routing",
    )
    raise SystemExit(_simulate(parser.parse_args(args)))


def _simulate(options: argparse.Namespace) -> int:
    compared = definitions_to_compare(options, database="handoff")
    if compared is None:
        return 2
    current, candidate = compared
    until = options.until or datetime.now(UTC)
    history_from = min(options.since or until, until - ACCEPTANCE_HISTORY)

    async def read(session: AsyncSession) -> Stored:
        return await load(session, definitions=current, since=options.since, until=until, acceptance_since=history_from)

    try:
        scores = _candidate_scores(options.scores) if options.scores else None
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        print(f"simulate: --scores {options.scores}: {error}", file=sys.stderr)
        return 2
    stored = asyncio.run(read_once(options.database_url, read))
    report = simulate(
        stored.leads,
        current=current,
        candidate=candidate,
        roster=stored.roster,
        accounts=stored.accounts,
        acceptance=stored.acceptance,
        at=until,
        candidate_scores=scores,
    )
    print(json.dumps(report.as_dict(), indent=2) if options.json else format_report(report))
    return 0


def _candidate_scores(path: Path) -> dict[str, LeadScored]:
    """`lead.scored` payloads, one JSON per line, by lead."""
    scores = (LeadScored.model_validate_json(line) for line in path.read_text().splitlines() if line.strip())
    return {score.lead_id: score for score in scores}


def format_report(report: HandoffSimulation) -> str:
    """The report as a RevOps admin reads it: each count as current -> candidate."""
    current, candidate = report.current.as_dict(), report.candidate.as_dict()
    gained, lost, moved = report.gained, report.lost, report.moved
    lines = [
        f"{report.leads} leads as the handoff holds them at {report.at.isoformat()}, "
        f"under {current['version']} -> {candidate['version']}",
        f"MQLs: {current['mqls']} -> {candidate['mqls']} (gained {len(gained)}, lost {len(lost)})",
    ]
    if report.rescored:
        lines.insert(1, f"  the candidate side with scoring's candidate scores for {report.rescored} of them")
    for key, title in (("by_fit_grade", "fit grade"), ("by_rule", "qualified by")):
        lines.append(f"  {title}: " + _pairs(current[key], candidate[key]))
    lines.append(
        "Expected acceptance (sales' past decisions by fit grade): "
        f"{_percent(report.current.expected_acceptance)} -> {_percent(report.candidate.expected_acceptance)}"
    )
    lines.append("Who gets them (each lead when it was scored; rotations afresh, caps filled by the replay):")
    for key, title in (("by_team", "team"), ("by_rep", "rep"), ("by_route", "routed by")):
        lines.append(f"  {title}: " + _pairs(current[key], candidate[key]))
    for override in report.overrides:
        lines.append(
            f"  note: {override.rep_id} has {override.field} {override.live!r} in the live roster and "
            f"{override.definitions!r} in the candidate; the live roster wins (PUT /v1/reps/{override.rep_id})"
        )
    lines.append(f"MQLs under both that would change rep: {len(moved)}")
    lines.extend(f"  {lead}: {was} -> {now}" for lead, was, now in moved[:20])
    for label, leads in (("gained", gained), ("lost", lost)):
        if leads:
            lines.append(f"{label}: " + ", ".join(leads[:20]) + (" ..." if len(leads) > 20 else ""))
    return "\n".join(lines)


def _pairs(before: dict[str, int], after: dict[str, int]) -> str:
    keys = sorted(set(before) | set(after))
    return ", ".join(f"{key} {before.get(key, 0)} -> {after.get(key, 0)}" for key in keys) or "(none)"


def _percent(rate: float | None) -> str:
    return f"{rate:.0%}" if rate is not None else "n/a (no sales decisions yet)"


if __name__ == "__main__":
    main()
