"""``sumame calibrate``: voltage and current gains of the metering chip from a known load.

As ESPHome and Tasmota users calibrate an ATM90E32: connect a resistive load of known voltage
and current (read both off a reference meter), let the readings settle, average a few, and
scale Ugain / Igain by reference / reading. The new gains are written to the chip, checked by
reading again, and printed as the board keys to paste into ``[asic]``.

On an emulated board (``[asic] emulated_gain_error`` makes it read off) the known load is
emulated too: a constant resistive load giving each element the reference current.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

from .cli import CliError


@dataclass(frozen=True)
class Calibration:
    measured_v: tuple[float, ...]         # per element, before, V
    measured_a: tuple[float, ...]         # per element, before, A
    gains: dict[str, int]                 # board key -> new register value
    after_v: tuple[float, ...]
    after_a: tuple[float, ...]


def _average(asic, samples: int, wait) -> tuple[tuple[float, ...], tuple[float, ...]]:
    volts, amps = [], []
    for _ in range(samples):
        wait()
        inst = asic.read_instantaneous()
        volts.append([v for v in inst.voltage_v if v is not None])
        amps.append([abs(a) for a in inst.current_a if a is not None])
    n = len(volts[0])
    return (tuple(sum(s[i] for s in volts) / samples for i in range(n)),
            tuple(sum(s[i] for s in amps) / samples for i in range(n)))


def calibrate(asic, *, voltage_v: float, current_a: float, samples: int, wait) -> Calibration:
    """Measure, compute the gains, write them (``asic.start()`` with the new config), measure again."""
    cfg = asic.config
    volts, amps = _average(asic, samples, wait)
    if min(volts) < 0.2 * voltage_v or min(amps) < 0.05 * current_a:
        raise CliError(f"readings {volts} V / {amps} A are far from the reference {voltage_v} V / "
                       f"{current_a} A: is the load connected to every element?")
    ugain = round(cfg.ugain * voltage_v * len(volts) / sum(volts))
    igains = [round(g * current_a / a) for g, a in zip((cfg.igain_r, cfg.igain_t), amps)]
    gains = {"ugain": ugain, "igain_r": igains[0], "igain_t": igains[1] if len(igains) > 1 else cfg.igain_t}
    if not all(0 < g <= 0xFFFF for g in gains.values()):
        raise CliError(f"the gains needed ({gains}) do not fit the 16-bit registers: check the wiring")
    asic.config = replace(cfg, **gains)
    asic.start()
    after_v, after_a = _average(asic, samples, wait)
    return Calibration(volts, amps, gains, after_v, after_a)


def add_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="calibrate the metering chip with a known load",
                       description="Compute Ugain/Igain from a known resistive load (100 V, 1φ3W).")
    p.add_argument("--board", default="emulated-lv", help="board name or .toml path")
    p.add_argument("--voltage", type=float, required=True, metavar="V", help="reference voltage per element, V")
    p.add_argument("--current", type=float, required=True, metavar="A", help="reference current per element, A")
    p.add_argument("--samples", type=int, default=10, help="readings averaged (default 10)")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="s between readings on a real chip")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sumame.firmware.core.clock import VirtualClock
    from sumame.hal.errors import HalError
    from sumame.tools.emulate.runtime import open_board

    if args.voltage <= 0 or args.current <= 0 or args.samples < 1:
        raise CliError("--voltage, --current and --samples must be positive")
    board = open_board(args.board)
    emulated = board["asic"]["driver"].startswith("emulated")
    clock = VirtualClock(time.time())
    elements = 1 if board["meter"]["wiring"] == "1p2w" else 2
    try:
        if emulated:      # the known load, emulated: unity power factor, each element at the reference
            from sumame.drivers.emulated.profiles import ConstantProfile

            board.values["asic"] = {**board["asic"], "profile_options": {}}
            asic, parts = board.build_asic(clock, profile="constant")
            parts["chip"].profile = ConstantProfile(args.voltage * args.current * elements, 0.0, args.voltage)

            def wait():
                clock.advance_to(clock.now() + 1.0)
        else:
            asic, _ = board.build_asic(clock)

            def wait():
                time.sleep(args.interval)
        asic.start()
        result = calibrate(asic, voltage_v=args.voltage, current_a=args.current, samples=args.samples, wait=wait)
    except HalError as exc:
        raise CliError(f"metering chip: {exc}") from None
    names = ("R", "T")
    for i, (v, a) in enumerate(zip(result.measured_v, result.measured_a)):
        print(f"element {names[i]}: {v:.2f} V, {a:.3f} A  ->  after: {result.after_v[i]:.2f} V, "
              f"{result.after_a[i]:.3f} A  (reference {args.voltage:.2f} V, {args.current:.3f} A)")
    worst = max(max(abs(v / args.voltage - 1) for v in result.after_v),
                max(abs(a / args.current - 1) for a in result.after_a))
    print(f"residual error after calibration: {worst * 100:.2f} %")
    print("[asic] keys for the board file:")
    for key, value in result.gains.items():
        print(f"{key} = 0x{value:04X}")
    return 0
