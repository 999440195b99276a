"""`baton-handoff` (or `python -m baton_handoff`) runs the service. One command does not:

python -m baton_handoff simulate --candidate FILE [--current FILE] [--database-url URL]
                                 [--since ISO] [--until ISO] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from baton_contracts.definitions import EXAMPLE_PATH, DefinitionsError, load_definitions
from baton_handoff.app import create_app
from baton_handoff.settings import HandoffSettings
from baton_handoff.simulate import HandoffSimulation, load, simulate
from baton_kit.runtime import run_service

ACCEPTANCE_HISTORY = timedelta(days=90)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        run_service(HandoffSettings, create_app)
        return
    parser = argparse.ArgumentParser(prog="baton-handoff", description="Baton handoff tools")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate_command = commands.add_parser(
        "simulate", help="which leads a candidate definitions file would make MQLs, and who would get them"
    )
    simulate_command.add_argument("--candidate", required=True, type=Path)
    simulate_command.add_argument("--current", type=Path, help="default: DEFINITIONS_PATH, else the packaged example")
    simulate_command.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    simulate_command.add_argument(
        "--since", type=_aware, help="leads last scored from (ISO 8601 with offset); default: all"
    )
    simulate_command.add_argument("--until", type=_aware, help="leads last scored until; default: now")
    simulate_command.add_argument("--json", action="store_true", help="print the full report as JSON")
    raise SystemExit(_simulate(parser.parse_args(args)))


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return moment


def _simulate(options: argparse.Namespace) -> int:
    from baton_kit.db import create_engine, session_factory, transaction

    if not options.database_url:
        print("simulate: pass --database-url or set DATABASE_URL (the handoff database)", file=sys.stderr)
        return 2
    try:
        current = load_definitions(options.current or os.environ.get("DEFINITIONS_PATH") or EXAMPLE_PATH)
        candidate = load_definitions(options.candidate)
    except (DefinitionsError, OSError) as error:
        print(f"simulate: {error}", file=sys.stderr)
        return 2
    until = options.until or datetime.now(UTC)
    history_from = min(options.since or until, until - ACCEPTANCE_HISTORY)

    async def run() -> HandoffSimulation:
        engine = create_engine(options.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                stored = await load(
                    session, definitions=current, since=options.since, until=until, acceptance_since=history_from
                )
                await session.rollback()  # read only: nothing to keep
        finally:
            await engine.dispose()
        return simulate(
            stored.leads,
            current=current,
            candidate=candidate,
            roster=stored.roster,
            accounts=stored.accounts,
            acceptance=stored.acceptance,
            at=until,
        )

    report = asyncio.run(run())
    if options.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(format_report(report))
    return 0


def format_report(report: HandoffSimulation) -> str:
    """The report as a RevOps admin reads it: each count as current -> candidate."""
    current, candidate = report.current.as_dict(), report.candidate.as_dict()
    gained, lost, moved = report.gained, report.lost, report.moved
    lines = [
        f"{report.leads} leads as the handoff holds them at {report.at.isoformat()}, "
        f"under {current['version']} -> {candidate['version']}",
        f"MQLs: {current['mqls']} -> {candidate['mqls']} (gained {len(gained)}, lost {len(lost)})",
    ]
    for key, title in (("by_fit_grade", "fit grade"), ("by_rule", "qualified by")):
        lines.append(f"  {title}: " + _pairs(current[key], candidate[key]))
    lines.append(
        "Expected acceptance (sales' past decisions by fit grade): "
        f"{_percent(report.current.expected_acceptance)} -> {_percent(report.candidate.expected_acceptance)}"
    )
    lines.append("Who gets them (rotations afresh; caps, working hours and out-of-office left out):")
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
