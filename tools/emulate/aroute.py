"""A-route options of ``sumame emulate`` (``--dlms-ip``, ``--dlms-port``, ``--dlms-hdlc-port``,
``--hes``, ``--push``), registered through the emulator's EMULATE_OPTIONS / EMULATE_HOOKS.

Listed in ``cli.COMMAND_MODULES`` before ``sumame.tools.emulate.cli`` (it adds no command of its own):
importing it registers the options before the emulate parser is built. The hook sets the
A-route's settings after boot and before its comms unit comes up, which is when the transports
open; the emulator then prints ``endpoint dlms-tcp <addr>:<port>`` with the bound port.
"""
from __future__ import annotations

from . import cli as emulate
from ..cli import CliError


def _add(parser) -> None:
    g = parser.add_argument_group("A-route (DLMS/COSEM towards the head-end)")
    g.add_argument("--dlms-ip", metavar="ADDR", help="address the A-route listens on (default 127.0.0.1)")
    g.add_argument("--dlms-port", type=int, metavar="PORT",
                   help="TCP/UDP port of the DLMS wrapper (default 4059; 0 = any free port)")
    g.add_argument("--dlms-hdlc-port", type=int, metavar="PORT", help="also serve HDLC frames over TCP on PORT")
    g.add_argument("--hes", metavar="HOST:PORT", help="head-end the pushes go to (default 127.0.0.1:4060)")
    g.add_argument("--push", choices=("tcp", "udp", "none"), help="push transport (default tcp)")


def _hook(rt, args) -> None:
    app = next((s for s in rt.meter.services if s.name == "a-route"), None)
    settings = {"ip": args.dlms_ip, "port": args.dlms_port, "hdlc_port": args.dlms_hdlc_port,
                "push_transport": args.push}
    for key, value in (("port", args.dlms_port), ("hdlc_port", args.dlms_hdlc_port)):
        if value is not None and not 0 <= value <= 65535:
            raise CliError(f"--dlms-{key.replace('_', '-')} {value} is not a port number")
    if app is None:
        if any(v is not None for v in settings.values()) or args.hes:
            raise CliError("the board has no A-route ([aroute] enabled = false)")
        return
    app.section = {**app.section, **{k: v for k, v in settings.items() if v is not None}}   # the board's is read-only
    if args.hes:
        app.section = {**app.section, "hes": args.hes}
        app.hes = args.hes
        app.pusher.interval.destination = app.pusher.alarm.destination = args.hes.encode()
    # the meter built after a reset or an outage reads its [aroute] section again: keep the options
    rt.config.options["aroute"] = {**rt.config.options.get("aroute", {}),
                                   **{k: v for k, v in settings.items() if v is not None},
                                   **({"hes": args.hes} if args.hes else {})}


def add_parser(sub) -> None:
    """Registers the options (no sub-command of its own)."""
    if _add not in emulate.EMULATE_OPTIONS:
        emulate.EMULATE_OPTIONS.append(_add)
        emulate.EMULATE_HOOKS.append(_hook)
