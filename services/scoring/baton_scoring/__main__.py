"""`baton-scoring` (or `python -m baton_scoring`) runs the service. Two commands do not:

python -m baton_scoring validate FILE...        check definitions files; every error with its path
python -m baton_scoring simulate --candidate FILE [--current FILE] [--database-url URL]
                                 [--since ISO] [--until ISO] [--json] [--scores-out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.definitions import DefinitionsError, load_definitions
from baton_contracts.definitions.candidates import add_simulate_arguments, definitions_to_compare
from baton_kit.db import read_once
from baton_kit.runtime import run_service
from baton_scoring.app import create_app
from baton_scoring.settings import ScoringSettings
from baton_scoring.simulate import StoredLead, candidate_scores, compare, load_window


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
    add_simulate_arguments(
        simulate,
        since="window start (ISO 8601 with offset); default: all",
        until="window end and the moment scores are taken; default: now",
    )
    simulate.add_argument(
        "--scores-out",
        type=Path,
        help="also write each lead's lead.scored under the candidate, one JSON per line, for the handoff's "
        "`simulate --scores` (what the change does to MQLs, acceptance and routing)",
    )
    options = parser.parse_args(args)
    if options.command == "validate":
        raise SystemExit(_validate(options.files))
    raise SystemExit(_simulate(options))


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
        for warning in loaded.definitions.warnings():
            print(f"  warning: {warning}")
    return 1 if failed else 0


def _simulate(options: argparse.Namespace) -> int:
    compared = definitions_to_compare(options, database="scoring")
    if compared is None:
        return 2
    current, candidate = compared
    until = options.until or datetime.now(UTC)

    async def read(session: AsyncSession) -> dict[str, StoredLead]:
        return await load_window(session, since=options.since, until=until)

    leads = asyncio.run(read_once(options.database_url, read))
    report = compare(leads, current=current, candidate=candidate, at=until).as_dict()
    if options.scores_out:
        scores = candidate_scores(leads, candidate, at=until)
        options.scores_out.write_text("".join(score.model_dump_json() + "\n" for score in scores))
        print(f"wrote {len(scores)} candidate scores to {options.scores_out}", file=sys.stderr)
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
