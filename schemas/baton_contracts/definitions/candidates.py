"""What the services' `simulate` commands share: their arguments, and the two files they compare."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from baton_contracts.definitions import EXAMPLE_PATH, DefinitionsError, LoadedDefinitions, load_definitions


def add_simulate_arguments(parser: argparse.ArgumentParser, *, since: str, until: str) -> None:
    parser.add_argument("--candidate", required=True, type=Path, help="the definitions file to try")
    parser.add_argument("--current", type=Path, help="default: DEFINITIONS_PATH, else the packaged example")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="default: DATABASE_URL")
    parser.add_argument("--since", type=aware_datetime, help=since)
    parser.add_argument("--until", type=aware_datetime, help=until)
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")


def aware_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return moment


def definitions_to_compare(options: argparse.Namespace, *, database: str) -> tuple[LoadedDefinitions, ...] | None:
    """(current, candidate), or None once stderr says what is missing or wrong (the command exits 2)."""
    if not options.database_url:
        print(f"simulate: pass --database-url or set DATABASE_URL (the {database} database)", file=sys.stderr)
        return None
    try:
        current = load_definitions(options.current or os.environ.get("DEFINITIONS_PATH") or EXAMPLE_PATH)
        return current, load_definitions(options.candidate)
    except (DefinitionsError, OSError) as error:
        print(f"simulate: {error}", file=sys.stderr)
        return None
