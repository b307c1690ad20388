"""npm packages for interop tests, installed on first use into ``tests/.npm`` (gitignored) with
plain ``npm install --prefix tests/.npm NAME@VERSION``; ``.ci/run`` installs them up front."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / ".npm"


def npm_package(name: str, version: str, extras: tuple[str, ...] = ()) -> tuple[Path | None, str]:
    """(module directory, "") when ``name`` at ``version`` is (now) installed, else (None, why).
    ``extras``: "pkg@version" the package requires without declaring them (installed beside it)."""
    module = CACHE / "node_modules" / name

    def installed() -> bool:
        for pkg, want in [(name, version), *(e.rsplit("@", 1) for e in extras)]:
            try:
                manifest = CACHE / "node_modules" / pkg / "package.json"
                if json.loads(manifest.read_text())["version"] != want:
                    return False
            except (OSError, ValueError, KeyError):
                return False
        return True

    if installed():
        return module, ""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None, "node/npm not installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                              f"{name}@{version}", *extras], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"npm install {name}@{version} failed: {exc}"
    if res.returncode != 0 or not installed():
        return None, f"npm install {name}@{version} failed: {res.stderr.strip()[-300:]}"
    return module, ""
