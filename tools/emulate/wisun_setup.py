"""The emulated route-B radio around a meter: virtual air, the meter's dongle (driven by the
firmware through drivers/skstack.py on its pty) and a HEMS-side dongle on a pty for the user.

Also the credentials QR code users scan to configure a HEMS (route-B ID and password).
"""
from __future__ import annotations

from pathlib import Path

from sumame.drivers.emulated.wisun.world import WisunWorld, build_wisun_world
from sumame.drivers.skstack import SkstackModem

PERSONALITIES = ("bp35c2", "bp35a1", "rl7023-dss", "j11")


def attach_emulated_wisun(runtime, state_dir: Path, *, personality: str = "bp35c2",
                          mode: str = "fast", pcap: str | None = None, seed: int | None = None,
                          keep_flash: bool = False) -> WisunWorld:
    """Build and start the radio world, give the meter a factory for its dongle (before boot).

    The HEMS-side dongle appears at ``state_dir/hems-dongle`` (a stable symlink to its pty).
    keep_flash: the dongles keep their flash (MAC, WOPT, WUART, SKSAVE) in ``state_dir`` so a
    restart finds them as a real dongle would (``sumame emulate`` does this)."""
    state_dir = Path(state_dir)
    world = build_wisun_world(personality=personality, mode=mode, clock=runtime.clock, seed=seed,
                              meter_link=str(state_dir / "meter-dongle"),
                              hems_link=str(state_dir / "hems-dongle"), pcap_path=pcap,
                              flash_dir=str(state_dir) if keep_flash else None)
    world.start()
    clock = runtime.clock
    runtime.built.hardware.extras["wisun_modem"] = lambda: SkstackModem(world.meter_path, clock=clock.now)
    runtime.extras["wisun_world"] = world
    return world


def credentials_text(route_b_id: str, password: str) -> str:
    """What the QR code carries: the two credentials on labelled lines (our format; the format
    of the utilities' printed notice is not public)."""
    return f"B-ROUTE-ID:{route_b_id}\nB-ROUTE-PASSWORD:{password}\n"


def credentials_qr(route_b_id: str, password: str, png: Path | None = None):
    """A segno QR code of the credentials; writes a PNG when ``png`` is given."""
    import segno

    qr = segno.make(credentials_text(route_b_id, password), error="m")
    if png is not None:
        qr.save(str(png), scale=6, border=4)
    return qr


def qr_terminal_text(qr) -> str:
    """The QR code drawn with half-block characters (two modules per character row)."""
    matrix = [list(row) for row in qr.matrix]
    border = 2
    size = len(matrix)
    full = [[0] * (size + 2 * border) for _ in range(border)]
    rows = full + [[0] * border + row + [0] * border for row in matrix] + [r[:] for r in full]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    chars = {(0, 0): "█", (1, 0): "▄", (0, 1): "▀", (1, 1): " "}
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2]):
        lines.append("".join(chars[(bool(t), bool(b))] for t, b in zip(top, bottom)))
    return "\n".join(lines)
