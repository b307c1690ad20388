"""The ``sumame`` command line.

Each sub-command lives in its own module under ``sumame.tools`` and exposes
``add_parser(subparsers)``; the parser it adds sets ``func(args) -> int``. To add a command,
add its module name to COMMAND_MODULES.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    "sumame.tools.simulate",
    "sumame.tools.emulate.aroute",   # registers emulate's A-route options: must precede emulate
    "sumame.tools.emulate.iot",      # registers emulate's IoT-route options: must precede emulate
    "sumame.tools.emulate.cli",
    "sumame.tools.bench.cli",
    "sumame.tools.control",
    "sumame.tools.hems.cli",
    "sumame.tools.hes.cli",
    "sumame.tools.firmware_cli",
    "sumame.tools.fleet.jointread",
    "sumame.tools.fleet.cli",
    "sumame.tools.fleet.specialmeters",
    "sumame.tools.deploy.flash",
    "sumame.tools.calibrate",
    "sumame.tools.fuzz.runner",
    "sumame.tools.mutation.runner",
]


class CliError(Exception):
    """A bad argument or input file: printed as one clear line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sumame",
        description="Emulated firmware of a Japanese next-generation smart electricity meter.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # meter events are in the summaries and status; show only alarms here
        logging.getLogger("sumame.meter").setLevel(logging.ERROR)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"sumame {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m sumame.tools.cli: use the importable module's classes
    from sumame.tools.cli import main as _main
    sys.exit(_main())
