"""``sumame bench`` / ``make bench``: repeatable performance figures.

Benchmarks live in modules listed in BENCH_MODULES; each exposes ``BENCHES``, a list of
``Bench``. A bench function returns ``Figure`` rows (name, value, unit, note); ratios against an
independent implementation are measured in the same run so machine speed cancels out.
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Callable

BENCH_MODULES = [
    "sumame.tools.bench.core",
    "sumame.tools.bench.echonet",
    "sumame.tools.bench.dlms",
    "sumame.tools.bench.wisun",
    "sumame.tools.bench.broute_wisun",
    "sumame.tools.bench.j11",
    "sumame.tools.bench.aroute",
    "sumame.tools.bench.scale",
    "sumame.tools.bench.rtfleet",
    "sumame.tools.bench.mdms",
    "sumame.tools.bench.hes_ingest",
    "sumame.tools.bench.iot",
    "sumame.tools.bench.extsec",
]


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class Bench:
    name: str
    run: Callable[[bool], list[Figure]]
    """run(quick) -> figures; quick=True uses smaller inputs (smoke test)."""
    description: str = ""


def all_benches() -> list[Bench]:
    benches = []
    for name in BENCH_MODULES:
        benches.extend(importlib.import_module(name).BENCHES)
    return benches


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure performance figures (make bench)")
    p.add_argument("names", nargs="*", help="run only these benchmarks (default: all)")
    p.add_argument("--quick", action="store_true", help="small inputs, for a smoke run")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--list", action="store_true", help="list benchmarks and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import CliError

    benches = all_benches()
    if args.list:
        for b in benches:
            print(f"{b.name:<28} {b.description}")
        return 0
    known = {b.name for b in benches}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise CliError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    chosen = [b for b in benches if not args.names or b.name in args.names]
    print(f"sumame bench — Python {platform.python_version()} on {platform.machine()}"
          f"{' (quick)' if args.quick else ''}")
    results = {}
    for bench in chosen:
        print(f"\n[{bench.name}] {bench.description}", flush=True)
        figures = bench.run(args.quick)
        for f in figures:
            print(f"  {f.name:<46} {f.value:>14,.3f} {f.unit:<16} {f.note}")
        results[bench.name] = [asdict(f) for f in figures]
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0
