"""``sumame flash``: install sumame as a service on a Raspberry Pi (or into ``--root DIR``).

Steps: its own virtual environment in /opt/sumame/venv with the ``[pi]`` extra (spidev, lgpio)
and no test extras; the board file in /etc/sumame; a systemd unit; a udev rule for the dongle;
a system user (systemd-sysusers); SPI enabled in config.txt when asked. With ``--root`` every
file lands under DIR for inspection and nothing on the running system is touched.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import files

# systemd's strict user/group name rule (also what useradd accepts by default): the name goes
# into User=, Group= and sysusers.d lines verbatim, so anything else would break or inject them.
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")


def add_parser(sub) -> None:
    p = sub.add_parser("flash", help="install sumame as a service on a Raspberry Pi",
                       description="Install sumame with a board as a systemd service.")
    p.add_argument("--board", required=True, help="board name or .toml path (e.g. rpi-lv)")
    p.add_argument("--root", type=Path, help="install into this directory tree instead of / (inspection)")
    p.add_argument("--user", default="sumame", help="service user (default sumame; created if missing)")
    p.add_argument("--enable-spi", action="store_true", help="set dtparam=spi=on in config.txt")
    p.add_argument("--skip-install", action="store_true",
                   help="write the configuration only (no virtual environment / pip)")
    p.add_argument("--source", type=Path, help="sumame source tree to install (default: this one)")
    p.set_defaults(func=run)


def _source_tree(explicit: Path | None) -> Path:
    from sumame.tools.cli import CliError

    tree = explicit or Path(__file__).resolve().parents[2]
    if not (tree / "pyproject.toml").is_file():
        raise CliError(f"{tree} is not a sumame source tree (no pyproject.toml); pass --source DIR")
    return tree


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def _config_txt(root: Path) -> Path:
    for rel in ("boot/firmware/config.txt", "boot/config.txt"):
        if (root / rel).exists():
            return root / rel
    return root / "boot/firmware/config.txt"


def install(board_arg: str, root: Path, *, user: str, enable_spi: bool, skip_install: bool,
            source: Path | None, say=print) -> list[Path]:
    """Do the installation; returns the files written."""
    from sumame.boards import BoardErrors, BoardNotFound, load_board, resolve
    from sumame.tools.cli import CliError

    try:
        board = load_board(board_arg)
    except (BoardErrors, BoardNotFound) as exc:
        raise CliError(str(exc)) from None
    written = []
    prefix = root / files.PREFIX.lstrip("/")
    if not skip_install:
        tree = _source_tree(source)
        venv = prefix / "venv"
        say(f"[1/5] virtual environment {venv} (sumame[pi] from {tree})")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        result = subprocess.run(pip + [f"{tree}[pi]"], capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
            raise CliError(f"pip could not install sumame[pi] into {venv}: {tail[0]}")
        shutil.copy2(tree / "README.md", prefix / "README.md")
    else:
        say("[1/5] virtual environment skipped (--skip-install)")
    say(f"[2/5] board {board.name} -> {files.BOARD_PATH}")
    written.append(_write(root / files.BOARD_PATH.lstrip("/"), resolve(board_arg).read_text()))
    say(f"[3/5] service unit {files.UNIT_NAME} (user {user}, restart on failure)")
    written.append(_write(root / "etc/systemd/system" / files.UNIT_NAME, files.service_unit(board.name, user)))
    written.append(_write(root / "usr/lib/sysusers.d/sumame.conf", files.sysusers(user)))
    say(f"[4/5] udev rule {files.UDEV_NAME} (/dev/{files.DONGLE_LINK})")
    written.append(_write(root / "etc/udev/rules.d" / files.UDEV_NAME, files.udev_rules()))
    if enable_spi:
        cfg = _config_txt(root)
        before = cfg.read_text() if cfg.exists() else ""
        written.append(_write(cfg, files.enable_spi(before)))
        say(f"[5/5] SPI enabled in {cfg} (reboot to apply)")
    else:
        say("[5/5] SPI left as it is (--enable-spi to turn it on)")
    if root == Path("/"):
        _activate(say)
    else:
        say(f"installed into {root}; nothing on this system was changed")
    return written


def _activate(say) -> None:
    """On the real system: create the user, reload systemd and udev, enable the service."""
    for cmd in (["systemd-sysusers"], ["systemctl", "daemon-reload"], ["udevadm", "control", "--reload"],
                ["udevadm", "trigger", "--subsystem-match=tty"], ["systemctl", "enable", "--now", files.UNIT_NAME]):
        if shutil.which(cmd[0]) is None:
            say(f"  skipped {' '.join(cmd)} ({cmd[0]} not found)")
            continue
        result = subprocess.run(cmd, capture_output=True, text=True)
        say(f"  {' '.join(cmd)}: {'ok' if result.returncode == 0 else result.stderr.strip()}")


def run(args: argparse.Namespace) -> int:
    from sumame.tools.cli import CliError

    if not _USER_NAME.fullmatch(args.user):
        raise CliError(f"--user {args.user!r}: not a valid system user name "
                       "(lower-case letters, digits, _ and -, starting with a letter or _, at most 31)")
    root = (args.root or Path("/")).resolve()
    if root.exists() and not root.is_dir():
        raise CliError(f"--root {root}: exists and is not a directory")
    if root == Path("/") and os.geteuid() != 0:
        raise CliError("installing on this system needs root (sudo), or pass --root DIR to inspect")
    try:
        install(args.board, root, user=args.user, enable_spi=args.enable_spi,
                skip_install=args.skip_install, source=args.source)
    except OSError as exc:
        raise CliError(f"could not write into {root}: {exc.strerror or exc}"
                       f"{f' ({exc.filename})' if exc.filename else ''}") from None
    return 0
