"""What the meter shows: one status model rendered as a rich panel or as a log line."""
from __future__ import annotations

from dataclasses import dataclass

from sumame.firmware.app import Meter
from sumame.firmware.core.events import Severity
from sumame.firmware.metrology.readings import Quantity
from sumame.hal.jst import format_jst


@dataclass(frozen=True)
class Status:
    jst: str
    power_w: int | None
    current_a: tuple[float | None, float | None]
    voltage_v: tuple[float | None, float | None]
    forward_kwh: float
    reverse_kwh: float
    register_forward: int | None
    register_reverse: int | None
    last_30: tuple[str, float | None, float | None]   # end JST, fwd kWh, rev kWh
    last_5: tuple[str, float | None, float | None]
    snapshots: int
    flash_records: int
    max_erase: int
    alarms: int
    last_event: str


def collect(meter: Meter) -> Status:
    r = meter.readings
    present = r.present()
    counters = meter.metering.counters
    k = r.scaling.coefficient * 10 ** -r.scaling.multiplier_code
    end30, end5 = r.latest_boundary(30), r.latest_boundary(5)
    health = meter.storage.health()
    events = meter.events.recent(1)
    return Status(
        jst=format_jst(r.now()),
        power_w=None if present.power_w is None else int(present.power_w * k),
        current_a=tuple(None if c is None else c / 10 for c in present.current_da),
        voltage_v=tuple(None if v is None else v / 10 for v in present.voltage_dv),
        forward_kwh=counters["forward"] / 1e6 * k,
        reverse_kwh=counters["reverse"] / 1e6 * k,
        register_forward=r.cumulative_now(Quantity.FORWARD),
        register_reverse=r.cumulative_now(Quantity.REVERSE),
        last_30=(format_jst(end30, seconds=False), _scaled(r.interval_energy(Quantity.FORWARD, end30, 30), k),
                 _scaled(r.interval_energy(Quantity.REVERSE, end30, 30), k)),
        last_5=(format_jst(end5, seconds=False), _scaled(r.interval_energy(Quantity.FORWARD, end5, 5), k),
                _scaled(r.interval_energy(Quantity.REVERSE, end5, 5), k)),
        snapshots=len(meter.registers),
        flash_records=sum(health["records"].values()),
        max_erase=health["max_erase_count"],
        alarms=sum(1 for e in meter.events if e.severity is Severity.ALARM),
        last_event=str(events[0]) if events else "",
    )


def _scaled(kwh: float | None, k: float) -> float | None:
    return None if kwh is None else kwh * k


def fmt(value, unit: str, digits: int = 1) -> str:
    return "no data" if value is None else f"{value:,.{digits}f} {unit}"


def status_line(s: Status) -> str:
    cur = "/".join("-" if c is None else f"{c:.1f}" for c in s.current_a)
    volt = "/".join("-" if v is None else f"{v:.1f}" for v in s.voltage_v)
    return (f"status {s.jst} power={fmt(s.power_w, 'W', 0)} current(R/T)={cur} A voltage(R/T)={volt} V "
            f"forward={s.forward_kwh:,.3f} kWh reverse={s.reverse_kwh:,.3f} kWh "
            f"30min[{s.last_30[0]}]={fmt(s.last_30[1], 'kWh', 3)} "
            f"5min[{s.last_5[0]}]={fmt(s.last_5[1], 'kWh', 4)} "
            f"snapshots={s.snapshots} flash_records={s.flash_records} max_erase={s.max_erase} alarms={s.alarms}")


def status_panel(s: Status, title: str, endpoints: list[tuple[str, str]], footer: str = "",
                 extra: list[tuple[str, str]] = ()):
    """A rich renderable for the live display."""
    from rich.panel import Panel
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    table.add_row("time", s.jst)
    table.add_row("power", fmt(s.power_w, "W", 0))
    table.add_row("current R / T", " / ".join(fmt(c, "A") for c in s.current_a))
    table.add_row("voltage R / T", " / ".join(fmt(v, "V") for v in s.voltage_v))
    table.add_row("forward energy", f"{s.forward_kwh:,.3f} kWh  (register {s.register_forward})")
    table.add_row("reverse energy", f"{s.reverse_kwh:,.3f} kWh  (register {s.register_reverse})")
    table.add_row("last 30 min", f"{s.last_30[0]}  import {fmt(s.last_30[1], 'kWh', 3)}, "
                                 f"export {fmt(s.last_30[2], 'kWh', 3)}")
    table.add_row("last 5 min", f"{s.last_5[0]}  import {fmt(s.last_5[1], 'kWh', 4)}, "
                                f"export {fmt(s.last_5[2], 'kWh', 4)}")
    table.add_row("storage", f"{s.snapshots} snapshots kept, {s.flash_records} records written, "
                             f"max page wear {s.max_erase}, alarms {s.alarms}")
    for name, address in endpoints:
        table.add_row(name, address)
    table.add_row("last event", s.last_event or "-")
    from rich.markup import escape
    for label, value in extra:
        table.add_row(label, escape(value))
    return Panel(table, title=title, subtitle=footer or "Ctrl-C stops (state is kept)")
