"""The IoT route in ``sumame emulate``: board option ``[iot] emulated_gas`` / ``emulated_water``
(or ``--iot-gas N --iot-water N``) builds emulated gas/water terminals (``relay_share`` of them
behind a relay) on an Enhanced HAN air driven by the meter's own scheduler (real time), puts
them on the allow-list, enables ``[iot]`` and shows one ``iot`` line in the status output.

The HEMS-side Wi-SUN world of ``emulate`` runs in its own thread; the IoT air is a second
instance of the same medium model in the meter's thread (the shared-radio airtime is measured
in virtual time by ``make bench``).
"""
from __future__ import annotations

from . import cli as emulate
from ..cli import CliError


def _add(parser) -> None:
    g = parser.add_argument_group("IoT route (emulated gas/water terminals on Wi-SUN Enhanced HAN)")
    g.add_argument("--iot-gas", type=int, metavar="N", help="emulated gas terminals (board [iot] emulated_gas)")
    g.add_argument("--iot-water", type=int, metavar="N", help="emulated water terminals (board [iot] emulated_water)")


def _pre_boot(rt, args) -> None:
    section = dict(rt.meter.config.options.get("iot", {}))   # the board's section is read-only
    gas = args.iot_gas if getattr(args, "iot_gas", None) is not None else section.get("emulated_gas", 0)
    water = args.iot_water if getattr(args, "iot_water", None) is not None else section.get("emulated_water", 0)
    if not 0 <= gas <= 10 or not 0 <= water <= 10 or gas + water > 9:
        raise CliError("--iot-gas/--iot-water: 0..10 each, at most 9 together (10 devices with the relay)")
    if gas + water == 0:
        return
    from sumame.drivers.emulated.iot.world import IotWorld, IotWorldSpec
    world = IotWorld(IotWorldSpec(gas=gas, water=water, relay_share=section.get("relay_share", 0.34),
                                  seed=section.get("seed", 1), max_hops=section.get("max_hops", 2),
                                  lossy_link=False),
                     rt.clock, rt.config.identity.serial)
    section.update(enabled=True, terminals=list(section.get("terminals", [])) + world.allow_list())
    rt.meter.config.options["iot"] = section
    rt.built.hardware.extras["iot_radio"] = world.coordinator
    world.pump(rt.scheduler)
    world.start()
    rt.extras["iot_world"] = world


def status_rows(rt) -> list[tuple[str, str]]:
    world = rt.extras.get("iot_world")
    app = next((s for s in rt.meter.services if s.name == "iot-route"), None)
    if world is None or app is None:
        return []
    joined = [t for t in app.terminals.values() if t.joined]
    parts = []
    for t in world.terminals:
        kind = "gas" if t.spec.kind == "gas" else "water"
        state = "joined" if t.node.joined else t.node.state
        last = max(t.store) if t.store else None
        value = f"{t.store[last][0] / 1000:.3f} m³" if last else "-"
        valve = "" if kind == "water" else (" valve open" if t.valve_open else " valve CLOSED")
        parts.append(f"{t.spec.terminal_id} {kind} {state} {value}{valve}")
    return [("IoT route", f"{len(joined)}/{len(app.terminals)} joined, uplink queue {len(app.uplink)}"),
            ("terminals", "; ".join(parts))]


def status_line(rt) -> str | None:
    rows = status_rows(rt)
    return None if not rows else "iot " + " | ".join(v for _, v in rows)


def add_parser(sub) -> None:
    """Registers the options (no sub-command of its own)."""
    if _add not in emulate.EMULATE_OPTIONS:
        emulate.EMULATE_OPTIONS.append(_add)
        emulate.EMULATE_PRE_BOOT_HOOKS.append(_pre_boot)
        emulate.EMULATE_STATUS_ROWS.append(status_rows)
