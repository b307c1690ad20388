"""The files ``sumame flash`` installs, rendered as text (pure: no I/O here)."""
from __future__ import annotations

from sumame.drivers.dongle_discovery import KNOWN_DONGLES

PREFIX = "/opt/sumame"
BOARD_PATH = "/etc/sumame/board.toml"
STATE_DIR = "/var/lib/sumame"
UNIT_NAME = "sumame.service"
UDEV_NAME = "99-sumame-wisun.rules"
DONGLE_LINK = "sumame-wisun"
GROUPS = ("dialout", "spi", "gpio")
"""dialout: the dongle's tty; spi: /dev/spidev*; gpio: /dev/gpiochip* (relay, IRQ)."""


def service_unit(board_name: str, user: str, prefix: str = PREFIX) -> str:
    """systemd unit: restart on failure, SIGTERM = orderly shutdown (the meter stops its tasks
    and closes its storage), a non-root user with just the groups the parts need."""
    return f"""[Unit]
Description=sumame smart meter firmware (board {board_name})
Documentation=file://{PREFIX}/README.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
SupplementaryGroups={' '.join(GROUPS)}
ExecStart={prefix}/venv/bin/sumame emulate --board {BOARD_PATH} --headless --state-dir {STATE_DIR}
StateDirectory=sumame
StateDirectoryMode=0750
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=30
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def udev_rules() -> str:
    """A stable name (/dev/sumame-wisun) and dialout access for every dongle of the table."""
    lines = ["# sumame: the route-B Wi-SUN dongle gets a stable name and is readable by group dialout.",
             "# From the table in drivers/dongle_discovery.py (its sources are listed there)."]
    for d in KNOWN_DONGLES:
        match = ['SUBSYSTEM=="tty"']
        if d.vid is not None:
            match.append(f'ATTRS{{idVendor}}=="{d.vid:04x}"')
        if d.pid is not None:
            match.append(f'ATTRS{{idProduct}}=="{d.pid:04x}"')
        else:
            match.append(f'ATTRS{{product}}=="*{d.product_hint}*"')
        lines.append(f"# {d.model} ({d.confidence}: {d.source.split(';')[0]})")
        lines.append(", ".join(match) + f', SYMLINK+="{DONGLE_LINK}", GROUP="dialout", MODE="0660"')
    return "\n".join(lines) + "\n"


def sysusers(user: str) -> str:
    """systemd-sysusers entry: a system user with the groups of the parts."""
    entries = [f'u {user} - "sumame smart meter" {STATE_DIR} -']
    entries += [f"g {group} -" for group in GROUPS]
    entries += [f"m {user} {group}" for group in GROUPS]
    return "# sumame service user (systemd-sysusers)\n" + "\n".join(entries) + "\n"


def enable_spi(config_txt: str) -> str:
    """config.txt with ``dtparam=spi=on`` (added once; an 'off' line is turned on)."""
    lines = config_txt.splitlines()
    out, done = [], False
    for line in lines:
        if line.strip().replace(" ", "").startswith("dtparam=spi="):
            if not done:
                out.append("dtparam=spi=on")
                done = True
            continue
        out.append(line)
    if not done:
        out.append("dtparam=spi=on   # sumame: ATM90E32 on SPI0")
    return "\n".join(out) + "\n"
