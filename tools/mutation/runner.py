"""``sumame mutate``: cosmic-ray over the safety modules, each on its own private copy of the tree.

The copy keeps the developer's files untouched (cosmic-ray edits the file it mutates); tests
import the copy through ``PYTHONPATH`` (a ``sumame`` folder of links to the copy's top-level
folders), which is checked before any mutant runs.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .modules import SAFETY_MODULES, SafetyModule

TOP_LEVEL = ("hal", "firmware", "drivers", "boards", "tools")


@dataclass
class ModuleResult:
    name: str
    mutants: int = 0
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)      # per survivor: the lines it changed
    timeouts: int = 0                                   # of the killed: by the time limit
    incompetent: int = 0
    skipped: int = 0
    error: str = ""

    @property
    def score(self) -> float:
        ran = self.killed + len(self.survived)
        return self.killed / ran if ran else 0.0


def _changed_lines(diff: str) -> str:
    """The ``-``/``+`` lines of a unified diff, without its headers."""
    return " | ".join(ln[0] + " " + ln[1:].strip() for ln in diff.splitlines()
                      if ln[:1] in "+-" and not ln.startswith(("+++", "---")))[:300]


def copy_tree(repo: Path, dest: Path) -> Path:
    """Copy the files git knows (tracked and untracked-not-ignored) to ``dest/tree``."""
    unmerged = subprocess.run(["git", "ls-files", "-u"], cwd=repo, capture_output=True, text=True).stdout
    if unmerged.strip():
        raise RuntimeError("the worktree has unmerged files (a merge in progress): finish it first")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    tree = dest / "tree"
    for rel in filter(None, files):
        src = repo / rel
        if src.is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / rel)
    pkg = dest / "pkg" / "sumame"
    pkg.mkdir(parents=True)
    for top in TOP_LEVEL:
        (pkg / top).symlink_to(tree / top, target_is_directory=True)
    return tree


def _env(dest: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(dest / "pkg") + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_copy_is_imported(dest: Path) -> None:
    out = subprocess.run([sys.executable, "-c", "import sumame.firmware as f; print(f.__file__)"],
                         env=_env(dest), capture_output=True, text=True, cwd=dest / "tree").stdout
    if str(dest / "pkg") not in out:
        raise RuntimeError(f"tests would import {out.strip()!r}, not the copy under {dest}")


def run_module(mod: SafetyModule, tree: Path, dest: Path, *, max_mutants: int | None,
               seed: int, timeout_s: float) -> ModuleResult:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    result = ModuleResult(mod.name)
    tests = [t for t in mod.tests if (tree / t.split("::")[0]).exists()]
    if not tests:
        result.error = "no guarding test file exists"
        return result
    work = dest / "cosmic-ray"
    work.mkdir()
    cfg, db = work / "config.toml", work / "session.sqlite"
    cmd = f"{sys.executable} -m pytest -x -q -p no:xdist -p no:cacheprovider --timeout=120 " + " ".join(tests)
    cfg.write_text(f'[cosmic-ray]\nmodule-path = "{mod.source}"\ntimeout = {timeout_s}\n'
                   f'excluded-modules = []\ntest-command = "{cmd}"\n'
                   f'[cosmic-ray.distributor]\nname = "local"\n')
    env = _env(dest)
    cr = [sys.executable, "-m", "cosmic_ray.cli"]
    base = subprocess.run(cr + ["baseline", str(cfg)], cwd=tree, env=env, capture_output=True, text=True)
    if base.returncode != 0:
        result.error = f"the guarding tests fail on unmutated code: {base.stdout[-300:]}{base.stderr[-300:]}"
        return result
    subprocess.run(cr + ["init", str(cfg), str(db)], cwd=tree, env=env, check=True, capture_output=True)
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        items = list(wdb.pending_work_items)
        result.mutants = len(items)
        if max_mutants is not None and len(items) > max_mutants:
            # job ids are fresh UUIDs at every init: sample by where the mutant is, so one seed
            # picks the same mutants in every session (a re-run checks the same survivors)
            items.sort(key=lambda i: (i.mutations[0].start_pos, i.mutations[0].operator_name,
                                      i.mutations[0].occurrence))
            keep = {items[k].job_id for k in random.Random(seed).sample(range(len(items)), max_mutants)}
            for item in items:
                if item.job_id not in keep:
                    wdb.set_result(item.job_id, WorkResult(output="sampled out",
                                                           worker_outcome=WorkerOutcome.SKIPPED))
    subprocess.run(cr + ["exec", str(cfg), str(db)], cwd=tree, env=env, capture_output=True)
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        for item, res in wdb.completed_work_items:
            if res.worker_outcome == WorkerOutcome.SKIPPED:
                result.skipped += 1
            elif res.test_outcome == TestOutcome.INCOMPETENT or res.worker_outcome in (
                    WorkerOutcome.ABNORMAL, WorkerOutcome.EXCEPTION):
                result.incompetent += 1                 # the mutant could not be run at all
            elif res.test_outcome == TestOutcome.SURVIVED:
                m = item.mutations[0]
                line = (tree / mod.source).read_text().splitlines()[m.start_pos[0] - 1].strip()
                result.survived.append(f"{mod.source}:{m.start_pos[0]} {m.operator_name} "
                                       f"#{m.occurrence}: {line[:90]}")
                result.diffs.append(_changed_lines(res.diff or ""))
            else:
                result.killed += 1
                if (res.output or "").strip() == "timeout":   # cosmic-ray reports a hang as killed
                    result.timeouts += 1
    return result


def add_parser(sub) -> None:
    p = sub.add_parser("mutate", help="mutation testing of the safety-critical modules (cosmic-ray)")
    names = [m.name for m in SAFETY_MODULES]
    p.add_argument("--module", action="append", choices=names, help="only these modules")
    p.add_argument("--max-mutants", type=int, help="a seeded sample of at most N mutants per module")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2, help="modules mutated at once (default 2)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant's test run")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--fail-on-survivors", action="store_true", help="exit 1 when a mutant survives")
    p.set_defaults(func=_main)


def _main(args) -> int:
    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        from sumame.tools.cli import CliError
        raise CliError("cosmic-ray is not installed: pip install 'sumame[fuzz]'") from None
    repo = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                               text=True).stdout.strip() or ".")
    mods = [m for m in SAFETY_MODULES if not args.module or m.name in args.module]
    dest = Path(tempfile.mkdtemp(prefix="sumame-mutate-"))
    # one copy per module: cosmic-ray edits the mutated file in place, and modules mutated at
    # once must not see each other's mutants (that failed baselines and could fake kills)
    trees = {}
    try:
        for m in mods:
            trees[m.name] = copy_tree(repo, dest / m.name)
            check_copy_is_imported(dest / m.name)
    except RuntimeError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        from sumame.tools.cli import CliError
        raise CliError(str(exc)) from None
    budget = f"at most {args.max_mutants} sampled mutants each" if args.max_mutants else "every mutant"
    print(f"mutating {len(mods)} safety modules ({budget}) in a copy at {dest}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_module, m, trees[m.name], dest / m.name, max_mutants=args.max_mutants,
                               seed=args.seed, timeout_s=args.timeout) for m in mods]
        results = []
        for m, fut in zip(mods, futures):
            r = fut.result()
            results.append(r)
            ran = r.killed + len(r.survived)
            status = r.error or (f"{r.killed}/{ran} killed ({r.score:.0%}; {r.timeouts} by timeout), "
                                 f"{len(r.survived)} survived, {r.incompetent} incompetent, "
                                 f"{r.skipped} sampled out, {r.mutants} mutants in all")
            print(f"{m.name:<17} {status}", flush=True)
            for s, d in zip(r.survived, r.diffs):
                print(f"    survived: {s}\n              {d}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=1))
    shutil.rmtree(dest, ignore_errors=True)
    survivors = sum(len(r.survived) for r in results)
    errors = [r for r in results if r.error]
    print(f"{len(results)} modules, {sum(r.killed for r in results)} killed, {survivors} survived"
          + (f", {len(errors)} could not run" if errors else ""))
    return 1 if errors or (args.fail_on_survivors and survivors) else 0
