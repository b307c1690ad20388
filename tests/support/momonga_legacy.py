"""An older momonga (PyPI), unmodified, in its own pip target directory and its own process.

Home Assistant core pins momonga 0.1.5 for its route-B integration; the project venv holds a
newer momonga, so the old one is installed with ``pip install --target`` into
``tests/.pydeps/momonga-<version>`` (gitignored) and run in a subprocess whose ``sys.path``
starts there. ``python tests/support/momonga_legacy.py DIR DEV RBID PWD SESSIONS`` (the
child) opens, reads E7/E8/E0 and closes SESSIONS times in a row and prints one JSON line per
session (or the exception's class name)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def install(version: str) -> Path:
    """The target dir holding momonga ``version`` (installed on first use; raises on failure)."""
    target = ROOT / "tests" / ".pydeps" / f"momonga-{version}"
    if not (target / "momonga" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                        str(target), f"momonga=={version}"], check=True, capture_output=True, timeout=300)
    return target


def run_sessions(target: Path, dev: str, rbid: str, pwd: str, sessions: int, timeout_s: float = 240) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, __file__, str(target), dev, rbid, pwd, str(sessions)],
                         cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=timeout_s)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise AssertionError(f"legacy momonga printed nothing (rc {out.returncode}): {out.stderr[-2000:]}")
    return rows


def _child(target: str, dev: str, rbid: str, pwd: str, sessions: int) -> None:
    sys.path.insert(0, target)
    import momonga

    assert Path(momonga.__file__).resolve().is_relative_to(Path(target).resolve()), momonga.__file__
    for n in range(sessions):
        mo = momonga.Momonga(rbid, pwd, dev)
        mo.internal_xmit_interval = 0      # public attribute: skip the fixed 5 s pauses
        mo.recv_timeout = 10
        row: dict = {"session": n}
        try:
            mo.open()
            try:
                row["e7"] = mo.get_instantaneous_power()
                row["e8"] = mo.get_instantaneous_current()
                row["e0"] = mo.get_measured_cumulative_energy()
            finally:
                mo.close()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            row["error"] = type(exc).__name__
        print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
