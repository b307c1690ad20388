"""Field quirks in the tools: ``sumame emulate --quirk/--quirk-preset/--quirk-report``, the
board's ``[quirks]`` section, ``sumame ctl quirk NAME on|off [k=v ...]``, and the glue that puts a
QuirkEngine between a meter's B-route application and its media (before or after boot).
Profiles: drivers/emulated/quirks (each says which field finding it reproduces)."""
from __future__ import annotations

from sumame.drivers.emulated.quirks.base import QuirkError
from sumame.drivers.emulated.quirks.engine import QuirkEngine
from sumame.drivers.emulated.quirks.registry import PRESETS, PROFILES, parse_spec, preset

from .cli import CliError


def specs_from(profiles: list[str] | None, preset_name: str | None) -> list[tuple[str, dict]]:
    """(name, params) of a preset and the given ``NAME[:k=v,...]`` specs (these win)."""
    out: dict[str, dict] = {}
    if preset_name:
        out.update(dict(preset(preset_name)))
    given: dict[str, dict] = {}
    for spec in profiles or []:
        name, params = parse_spec(spec)
        clash = {k: (given[name][k], v) for k, v in params.items()
                 if name in given and k in given[name] and given[name][k] != v}
        if clash:
            k, (a, b) = next(iter(clash.items()))
            raise QuirkError(f"quirk {name}: given twice with {k}={a} and {k}={b}; give it once")
        given[name] = {**given.get(name, {}), **params}
        out[name] = {**out.get(name, {}), **params}
    return list(out.items())


def attach_quirks(runtime, specs: list[tuple[str, dict]] = ()) -> QuirkEngine:
    """Put (or find) the runtime's QuirkEngine and switch ``specs`` on. Works before boot (the
    B-route picks it up from the hardware) and after (it is set on the running application)."""
    engine = runtime.extras.get("quirks")
    if engine is None:
        engine = QuirkEngine(runtime.clock)
        runtime.extras["quirks"] = engine
        runtime.built.hardware.extras["broute_filter"] = engine
        meter = getattr(runtime, "meter", None)
        for service in getattr(meter, "services", []) if meter is not None else []:
            if getattr(service, "name", "") == "b-route":
                service.service.frame_filter = engine
        world = runtime.extras.get("wisun_world")
        if world is not None:      # the Wi-SUN profiles act on the HEMS dongle's bytes
            from sumame.drivers.emulated.quirks.wisun_hooks import hems_quirks

            runtime.extras["dongle_quirks"] = hems_quirks(world, engine).follow()
    for name, params in specs:
        engine.enable(name, params)
    return engine


def from_board(board) -> list[tuple[str, dict]]:
    q = board.values.get("quirks", {})
    return specs_from(q.get("profiles", []), q.get("preset") or None)


# ------------------------------------------------------------------ emulate options and hook
def add_options(p) -> None:
    p.add_argument("--quirk", action="append", metavar="NAME[:k=v,...]",
                   help=f"switch on a field-quirk profile (repeatable): {', '.join(PROFILES)}")
    p.add_argument("--quirk-preset", metavar="NAME", help=f"a set of profiles: {', '.join(PRESETS)}")
    p.add_argument("--quirk-report", metavar="FILE", help="at exit, write what the quirks did and how "
                                                          "the clients coped (JSON + .png plot)")


def before_boot(runtime, args) -> QuirkEngine:
    """emulate: the engine is always there (ctl can switch quirks on later); the board's and the
    command line's profiles are on from the start. Every profile is off unless asked for."""
    try:
        specs = from_board(runtime.board) + specs_from(args.quirk, args.quirk_preset)
        return attach_quirks(runtime, specs)
    except QuirkError as exc:
        raise CliError(str(exc)) from None


def at_exit(runtime, args) -> str | None:
    engine = runtime.extras.get("quirks")
    if engine is None or not getattr(args, "quirk_report", None):
        return None
    dongle = runtime.extras.get("dongle_quirks")
    extra = {"wisun": dongle.report()} if dongle is not None else None
    path, png = engine.write_report(args.quirk_report, extra)
    return f"quirk report {path}" + (f" (plot {png})" if png else "")


# ------------------------------------------------------------------ ctl
def ctl_quirk(operator, name: str = "", state: str = "", *params: str) -> str:
    """``quirk NAME on|off [k=v ...]`` or ``quirk list``."""
    from .control import ControlError

    engine = operator.rt.extras.get("quirks")
    if engine is None:
        raise ControlError("this emulator has no quirk engine")
    if name in ("", "list"):
        on = ", ".join(q.describe() for q in engine.quirks.values()) or "none"
        return f"on: {on}; known: {', '.join(PROFILES)}"
    try:
        if state == "on":
            kv = dict(p.split("=", 1) for p in params if "=" in p)
            bad = [p for p in params if "=" not in p]
            if bad:
                raise QuirkError(f"quirk {name}: {bad[0]!r} is not key=value")
            return f"on: {engine.enable(name, kv).describe()}"
        if state == "off":
            engine.disable(name)
            return f"off: {name}"
    except QuirkError as exc:
        raise ControlError(str(exc)) from None
    raise ControlError("usage: quirk NAME on|off [k=v ...] | quirk list")
