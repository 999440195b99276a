"""`baton-scoring` (or `python -m baton_scoring`) runs the service. Two commands do not:

python -m baton_scoring validate FILE...        check definitions files; every error with its path
python -m baton_scoring simulate --candidate FILE [--current FILE] [--database-url URL]
                                 [--since ISO] [--until ISO] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from baton_contracts.definitions import EXAMPLE_PATH, DefinitionsError, load_definitions
from baton_kit.runtime import run_service
from baton_scoring.app import create_app
from baton_scoring.settings import ScoringSettings


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        run_service(ScoringSettings, create_app)
        return
    parser = argparse.ArgumentParser(prog="baton-scoring", description="Baton scoring tools")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check definitions files and print each error with its path")
    validate.add_argument("files", nargs="+", type=Path)
    simulate = commands.add_parser("simulate", help="replay stored events under a candidate definitions file")
    simulate.add_argument("--candidate", required=True, type=Path)
    simulate.add_argument("--current", type=Path, help="default: DEFINITIONS_PATH, else the packaged example")
    simulate.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    simulate.add_argument("--since", type=_aware, help="window start (ISO 8601 with offset); default: all")
    simulate.add_argument("--until", type=_aware, help="window end and the moment scores are taken; default: now")
    simulate.add_argument("--json", action="store_true", help="print the full report as JSON")
    options = parser.parse_args(args)
    if options.command == "validate":
        raise SystemExit(_validate(options.files))
    raise SystemExit(_simulate(options))


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return moment


def _validate(files: list[Path]) -> int:
    failed = 0
    for path in files:
        try:
            loaded = load_definitions(path)
        except (DefinitionsError, OSError) as error:
            failed += 1
            print(f"INVALID {path}", file=sys.stderr)
            for problem in str(error).split(": ", 1)[-1].split("; "):
                print(f"  {problem}", file=sys.stderr)
            continue
        scoring = loaded.definitions.scoring
        print(
            f"OK {path} {loaded.version}: {len(scoring.fit.criteria)} fit criteria, "
            f"{len(scoring.fit.negative_indicators)} negative indicators, {len(scoring.engagement.rules)} engagement "
            f"rules, {len(scoring.demand.rules)} demand rules"
        )
    return 1 if failed else 0


def _simulate(options: argparse.Namespace) -> int:
    from baton_kit.db import create_engine, session_factory, transaction
    from baton_scoring.simulate import compare, load_window

    if not options.database_url:
        print("simulate: pass --database-url or set DATABASE_URL (the scoring database)", file=sys.stderr)
        return 2
    try:
        current = load_definitions(options.current or os.environ.get("DEFINITIONS_PATH") or EXAMPLE_PATH)
        candidate = load_definitions(options.candidate)
    except (DefinitionsError, OSError) as error:
        print(f"simulate: {error}", file=sys.stderr)
        return 2
    until = options.until or datetime.now(UTC)

    async def run() -> dict[str, object]:
        engine = create_engine(options.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                leads = await load_window(session, since=options.since, until=until)
                await session.rollback()  # read only: nothing to keep
        finally:
            await engine.dispose()
        return compare(leads, current=current, candidate=candidate, at=until).as_dict()

    report = asyncio.run(run())
    if options.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    eligible = report["mql_eligible"]
    assert isinstance(eligible, dict)
    print(f"{report['leads']} leads replayed at {until.isoformat()}")
    print(
        f"MQL-eligible: {eligible['current']} under {current.version} -> {eligible['candidate']} under "
        f"{candidate.version}"
    )
    grades = sorted(set(eligible["by_grade_current"]) | set(eligible["by_grade_candidate"]))
    for grade in grades:
        print(
            f"  {grade}: {eligible['by_grade_current'].get(grade, 0)} -> {eligible['by_grade_candidate'].get(grade, 0)}"
        )
    for label in ("gained", "lost"):
        changes = report[label]
        assert isinstance(changes, list)
        print(f"{label} eligibility: {len(changes)}")
        for change in changes[:20]:
            print(
                f"  {change['lead_id']}: {change['current_grade']} {change['current_score']:g} -> "
                f"{change['candidate_grade']} {change['candidate_score']:g}"
            )
    return 0


if __name__ == "__main__":
    main()
