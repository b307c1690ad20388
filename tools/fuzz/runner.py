"""``sumame fuzz``: run every parser under coverage-guided fuzzing and print a table.

For each target: inputs executed, inputs per second, coverage (libFuzzer's edge count ``cov``),
findings (escaped exceptions, per-input time-outs, crashes). Exit status 1 when any target has
a finding, so CI fails on one.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .targets import FACTORIES, make

_COV = re.compile(r"cov: (\d+)")
_STAT = re.compile(r"stat::(\w+):\s*(\d+)")


@dataclass
class Result:
    name: str
    inputs: int
    seconds: float
    coverage: int
    findings: list[str]

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


def run_target(name: str, *, runs: int, max_seconds: int, timeout_s: int, workdir: Path) -> Result:
    """Fuzz one target in a child process for ``runs`` inputs or ``max_seconds``."""
    corpus = workdir / name / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    target = make(name)
    for i, seed in enumerate(target.seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    findings_file = workdir / name / "findings.jsonl"
    findings_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "sumame.tools.fuzz.child", name, str(findings_file),
           f"-runs={runs}", f"-max_total_time={max_seconds}", f"-timeout={timeout_s}",
           "-print_final_stats=1", "-max_len=2048", f"-artifact_prefix={workdir / name}/",
           "-rss_limit_mb=1024", str(corpus)]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                          timeout=max_seconds + 120)
    seconds = time.monotonic() - start
    log = proc.stderr
    stats = {k: int(v) for k, v in _STAT.findall(log)}
    covs = _COV.findall(log)
    findings = []
    if findings_file.exists():
        for line in findings_file.read_text().splitlines():
            f = json.loads(line)
            findings.append(f"{f['error']} at {f['where']}: {f['message']} (input {f['input'][:80]})")
    if "ERROR: libFuzzer: timeout" in log:
        findings.append(f"an input ran over the {timeout_s} s per-input limit "
                        f"(artifact in {workdir / name})")
    elif proc.returncode not in (0,) and not findings:
        tail = " | ".join(log.strip().splitlines()[-3:])
        findings.append(f"child exited {proc.returncode}: {tail}")
    return Result(name, stats.get("number_of_executed_units", 0),
                  stats.get("slowest_unit_time_sec", 0) and seconds or seconds,
                  int(covs[-1]) if covs else 0, findings)


def add_parser(sub) -> None:
    p = sub.add_parser("fuzz", help="coverage-guided fuzzing of every parser (atheris)")
    p.add_argument("--runs", type=int, default=1_000_000, help="inputs per parser (default 10^6)")
    p.add_argument("--seconds", type=int, default=3600, help="time limit per parser (s)")
    p.add_argument("--timeout", type=int, default=1, help="per-input time limit (s)")
    p.add_argument("--only", action="append", metavar="TARGET", help=f"one of: {', '.join(FACTORIES)}")
    p.add_argument("--workdir", help="corpus and artifacts (default: a temporary folder)")
    p.add_argument("--json", help="write the table as JSON to this file")
    p.set_defaults(func=_main)


def _main(args) -> int:
    try:
        import atheris  # noqa: F401
    except ImportError:
        from sumame.tools.cli import CliError
        raise CliError("atheris is not installed: pip install 'sumame[fuzz]'") from None
    names = args.only or list(FACTORIES)
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        from sumame.tools.cli import CliError
        raise CliError(f"unknown fuzz target {unknown[0]!r}; known: {', '.join(FACTORIES)}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sumame-fuzz-"))
    print(f"fuzzing {len(names)} parsers, {args.runs:,} inputs or {args.seconds} s each, "
          f"{args.timeout} s per input; work in {workdir}", flush=True)
    print(f"{'parser':<18} {'inputs':>10} {'inputs/s':>9} {'coverage':>8}  findings", flush=True)
    results = []
    for name in names:
        r = run_target(name, runs=args.runs, max_seconds=args.seconds, timeout_s=args.timeout,
                       workdir=workdir)
        results.append(r)
        print(f"{r.name:<18} {r.inputs:>10,} {r.rate:>9,.0f} {r.coverage:>8}  {len(r.findings)}",
              flush=True)
        for f in r.findings:
            print(f"    ! {f}", flush=True)
        if not r.findings and r.inputs < args.runs:
            print(f"    note: stopped by the {args.seconds} s limit after {r.inputs:,} of {args.runs:,} "
                  f"inputs (raise --seconds for the full budget)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ | {"rate": r.rate} for r in results], indent=1))
    bad = sum(len(r.findings) for r in results)
    short = [r.name for r in results if not r.findings and r.inputs < args.runs]
    print(f"{len(results)} parsers, {sum(r.inputs for r in results):,} inputs, {bad} findings"
          + (f"; {len(short)} short of {args.runs:,} inputs: {', '.join(short)}" if short else ""))
    return 1 if bad else 0


__all__ = ["Result", "add_parser", "run_target"]
os.environ.setdefault("PYTHONHASHSEED", "0")
