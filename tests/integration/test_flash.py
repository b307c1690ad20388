"""``sumame flash`` (make flash): the service, udev rule, user and SPI setting a Pi needs,
installed into a directory tree and checked with the system's own tools where they exist."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sumame.tools.deploy import files

ROOT_FILES = ("etc/sumame/board.toml", "etc/systemd/system/sumame.service",
              "etc/udev/rules.d/99-sumame-wisun.rules", "usr/lib/sysusers.d/sumame.conf")


def _flash(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sumame.tools.cli", "flash", "--board", "rpi-lv",
                           "--root", str(root), *extra], capture_output=True, text=True, timeout=900)


def _verify_unit(unit_text: str, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = tmp_path / "sumame.service"
    unit.write_text(unit_text)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_flash_into_a_root_writes_the_service_rule_user_and_spi(tmp_path):
    root = tmp_path / "root"
    result = _flash(root, "--skip-install", "--enable-spi", "--user", "meter")
    assert result.returncode == 0, result.stderr
    for rel in ROOT_FILES:
        assert (root / rel).is_file(), rel
    assert tomllib.loads((root / "etc/sumame/board.toml").read_text())["board"]["name"] == "rpi-lv"
    unit = (root / "etc/systemd/system/sumame.service").read_text()
    assert "User=meter" in unit and "Restart=on-failure" in unit and "KillSignal=SIGTERM" in unit
    assert "--board /etc/sumame/board.toml" in unit
    users = (root / "usr/lib/sysusers.d/sumame.conf").read_text()
    assert "m meter dialout" in users and "m meter spi" in users and "m meter gpio" in users
    assert _flash(root, "--skip-install", "--enable-spi").returncode == 0        # run twice
    config = (root / "boot/firmware/config.txt").read_text()
    assert config.count("dtparam=spi=on") == 1
    assert "nothing on this system was changed" in result.stdout


def test_the_service_unit_passes_systemd_analyze(tmp_path):
    # the same template, pointed at this interpreter's sumame so the executable check can run
    here = str(Path(sys.executable).parent / "sumame")
    _verify_unit(files.service_unit("rpi-lv", "root").replace(f"{files.PREFIX}/venv/bin/sumame", here),
                 tmp_path)


def test_the_udev_rule_passes_udevadm(tmp_path):
    rule = tmp_path / "99-sumame-wisun.rules"
    rule.write_text(files.udev_rules())
    if shutil.which("udevadm") is None:
        pytest.skip("udevadm is not installed here")
    probe = subprocess.run(["udevadm", "verify", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no 'verify' command (systemd < 253)")
    result = subprocess.run(["udevadm", "verify", str(rule)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_enable_spi_turns_an_off_line_on_and_keeps_the_rest():
    text = "dtparam=audio=on\ndtparam=spi=off\n[all]\n"
    out = files.enable_spi(text)
    assert "dtparam=spi=off" not in out and out.count("dtparam=spi=on") == 1
    assert out.startswith("dtparam=audio=on\n") and "[all]" in out


def test_a_bad_board_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "flash", "--board", "no-such-board",
                             "--root", str(tmp_path), "--skip-install"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no-such-board" in result.stderr


@pytest.mark.long
def test_full_install_has_the_pi_extra_and_no_test_extras(tmp_path):
    root = tmp_path / "root"
    result = _flash(root)
    assert result.returncode == 0, result.stdout + result.stderr
    venv = root / files.PREFIX.lstrip("/") / "venv"
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list"], capture_output=True,
                            text=True).stdout.lower()
    assert "spidev" in listed and "lgpio" in listed
    assert "pytest" not in listed and "hypothesis" not in listed
    unit = (root / "etc/systemd/system/sumame.service").read_text()
    _verify_unit(unit.replace(files.PREFIX, str(root / files.PREFIX.lstrip("/"))), tmp_path)


@pytest.mark.parametrize("user", ["bad user", "root\nExecStartPre=/bin/sh", "-x", "9lives", "a" * 40])
def test_a_user_name_systemd_would_reject_is_one_line_and_writes_nothing(tmp_path, user):
    result = _flash(tmp_path / "r", "--skip-install", "--user", user)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr and "--user" in result.stderr
    assert not (tmp_path / "r" / "etc/systemd/system/sumame.service").exists()


def test_a_root_that_is_a_file_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = _flash(afile, "--skip-install")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and str(afile) in result.stderr
