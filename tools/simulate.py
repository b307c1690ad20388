"""``sumame simulate``: run the meter in virtual time as fast as the CPU allows.

The emulated chip integrates the load profile exactly, so energies do not depend on how often
the firmware polls; ``--poll`` only sets how often instantaneous values are sampled.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from sumame.firmware.metrology.readings import Quantity
from sumame.hal.jst import format_jst, parse_jst

from .cli import CliError
from .emulate.runtime import build_runtime, open_board

DEFAULT_START = "2026-04-01T00:00"


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="run a meter in virtual time (days in seconds)",
                       description="Run the meter firmware on emulated hardware in virtual time.")
    p.add_argument("--board", default="emulated-lv", help="board name or .toml path (default emulated-lv)")
    p.add_argument("--days", type=_positive_float, default=1.0, help="simulated days (default 1)")
    p.add_argument("--profile", help="load profile: constant, residential, residential-no-pv, "
                                     "commercial, or a CSV file (timestamp, W, var, V)")
    p.add_argument("--seed", type=int, help="seed of the load profile (default: board's)")
    p.add_argument("--start", default=DEFAULT_START, help=f"JST start, e.g. 2026-02-28T21:00 (default {DEFAULT_START})")
    p.add_argument("--poll", type=_positive_float, default=60.0, help="s between chip polls (default 60)")
    p.add_argument("--state-dir", type=Path, help="keep the flash image here (default: RAM only)")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write interval values to this CSV file")
    p.add_argument("--grid", type=int, choices=(1, 5, 15, 30), help="interval of the CSV rows "
                                                                    "(default: the board's transmitted interval)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="draw the 30-minute values to a PNG file")
    p.set_defaults(func=run)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        start = parse_jst(args.start)
    except ValueError:
        raise CliError(f"--start {args.start!r}: expected a date like 2026-04-01 or 2026-04-01T09:30") from None
    board = open_board(args.board)
    rt = build_runtime(board, virtual=True, start_epoch=start, state_dir=args.state_dir,
                       profile=args.profile, seed=args.seed, poll_interval_s=min(args.poll, 60.0))
    for warning in getattr(rt.built.emulated.get("profile"), "warnings", [])[:5]:
        print(f"warning: {warning}", file=sys.stderr)
    meter, clock = rt.meter, rt.clock
    t_begin = clock.now()
    t_end = t_begin + args.days * 86400
    wall0 = time.perf_counter()
    _run_with_progress(rt.scheduler, clock, t_begin, t_end)
    wall = time.perf_counter() - wall0
    meter.checkpoint()
    _summary(rt, t_begin, t_end, wall, args)
    if args.csv:
        rows = write_intervals_csv(meter, args.csv, args.grid or meter.registers.transmitted_interval_min,
                                   t_begin, t_end)
        print(f"wrote {rows} rows to {args.csv}")
    if args.plot:
        plot_intervals(meter, args.plot, t_begin, t_end)
        print(f"wrote {args.plot}")
    rt.close()
    return 0


def _run_with_progress(scheduler, clock, t_begin: float, t_end: float) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    step = min(3600.0, t_end - t_begin)
    tty = sys.stderr.isatty()
    next_report = 0.1
    with Progress(TextColumn("[bold]simulating[/] {task.fields[jst]}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                  disable=not tty, transient=True) as progress:
        task = progress.add_task("sim", total=t_end - t_begin, jst=format_jst(t_begin, seconds=False))
        while clock.now() < t_end:
            scheduler.run(until=min(clock.now() + step, t_end))
            done = clock.now() - t_begin
            progress.update(task, completed=done, jst=format_jst(clock.now(), seconds=False))
            if not tty and done / (t_end - t_begin) >= next_report:
                print(f"progress {done / (t_end - t_begin):4.0%} {format_jst(clock.now(), seconds=False)}",
                      file=sys.stderr, flush=True)
                next_report += 0.1


def _summary(rt, t_begin: float, t_end: float, wall: float, args) -> None:
    meter = rt.meter
    c = meter.metering.counters
    k = rt.config.scaling.coefficient * 10 ** -rt.config.scaling.multiplier_code
    reg = meter.readings
    boundaries = {g: len(meter.registers.boundaries(g, t_begin + g * 60, t_end)) for g in (30, 15, 5, 1)}
    missing = sum(1 for end in meter.registers.boundaries(30, t_begin + 1800, t_end)
                  if reg.interval_energy(Quantity.FORWARD, end, 30) is None)
    flash = rt.built.emulated["flash"]
    health = meter.storage.health()
    alarms = [e for e in meter.events if e.severity.value == "alarm"]
    simulated = t_end - t_begin
    print(f"simulated {simulated / 86400:g} day(s) of {rt.board.name} "
          f"({format_jst(t_begin, seconds=False)} -> {format_jst(t_end, seconds=False)}), "
          f"profile {args.profile or rt.board['asic']['profile']}, seed {args.seed if args.seed is not None else rt.board['asic']['seed']}")
    print(f"  energy        forward {c['forward'] / 1e6 * k:,.3f} kWh   reverse {c['reverse'] / 1e6 * k:,.3f} kWh   "
          f"reactive {c['reactive_lag'] / 1e6 * k:,.3f} kvarh" + (f"   (x{k:g} coefficient)" if k != 1 else ""))
    print(f"  registers     forward {reg.cumulative_now(Quantity.FORWARD)}   reverse "
          f"{reg.cumulative_now(Quantity.REVERSE)}   (x {rt.config.scaling.unit_kwh:g} kWh, "
          f"{rt.config.scaling.digits} digits)")
    print(f"  intervals     30-min {boundaries[30]}, 15-min {boundaries[15]}, 5-min {boundaries[5]}, "
          f"1-min {boundaries[1]} (kept {rt.config.retention.minutes_1} min); 30-min with no data: {missing}")
    print(f"  storage       {sum(health['records'].values())} records, {flash.ops} flash operations, "
          f"max page wear {health['max_erase_count']} erases")
    print(f"  events        {len(meter.events)} ({len(alarms)} alarms)")
    speed = simulated / wall if wall > 0 else float("inf")
    print(f"  wall time     {wall:.2f} s   speed-up x{speed:,.0f}   ({simulated / 86400 / wall:.1f} meter-days/s)")


def write_intervals_csv(meter, path: Path, grid: int, t_begin: float, t_end: float) -> int:
    """One row per interval: end (JST), energies (kWh), voltages (V); empty cells = no data."""
    r = meter.readings
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["interval_end_jst", "minutes", "forward_kwh", "reverse_kwh", "reactive_kvarh",
                      "voltage_r_v", "voltage_t_v", "forward_register", "reverse_register"])
        for end in meter.registers.boundaries(grid, t_begin + grid * 60, t_end):
            vr, vt = r.interval_voltage(end, grid)
            out.writerow([format_jst(end, seconds=False).removesuffix(" JST"), grid,
                          _cell(r.interval_energy(Quantity.FORWARD, end, grid), 6),
                          _cell(r.interval_energy(Quantity.REVERSE, end, grid), 6),
                          _cell(r.interval_energy(Quantity.REACTIVE_LAG, end, grid), 6),
                          _cell(vr, 2), _cell(vt, 2),
                          _cell(r.cumulative_at(Quantity.FORWARD, end), 0),
                          _cell(r.cumulative_at(Quantity.REVERSE, end), 0)])
            rows += 1
    return rows


def _cell(value, digits: int) -> str:
    if value is None:
        return ""
    return str(int(value)) if digits == 0 else f"{value:.{digits}f}"


def plot_intervals(meter, path: Path, t_begin: float, t_end: float) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--plot needs matplotlib (pip install matplotlib)") from None
    from datetime import datetime

    from sumame.hal.jst import JST

    r = meter.readings
    ends = meter.registers.boundaries(30, t_begin + 1800, t_end)
    times = [datetime.fromtimestamp(e, JST) for e in ends]
    fwd = [r.interval_energy(Quantity.FORWARD, e, 30) for e in ends]
    rev = [r.interval_energy(Quantity.REVERSE, e, 30) for e in ends]
    volts = [r.interval_voltage(e, 30)[0] for e in ends]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, height_ratios=(3, 1))
    width = 1 / 48 * 0.9
    ax1.bar(times, [f if f is not None else 0 for f in fwd], width=width, color="#d62728", label="forward (import)")
    ax1.bar(times, [-(x) if x is not None else 0 for x in rev], width=width, color="#2ca02c", label="reverse (export)")
    gaps = [t for t, f in zip(times, fwd) if f is None]
    if gaps:
        ax1.scatter(gaps, [0] * len(gaps), marker="x", color="black", label="no data")
    ax1.set_ylabel("kWh per 30 min")
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.legend(loc="upper left")
    ax1.set_title(f"{meter.config.identity.serial}: 30-minute values (JST)")
    ax2.plot(times, [v if v is not None else float("nan") for v in volts], color="#1f77b4")
    ax2.set_ylabel("V (R, 30-min avg)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
