"""``sumame emulate``: run the meter in real time on a board, with a live status display.

The flash image lives in the state directory, so stopping (Ctrl-C) and starting again continues
from the stored registers and counters. ``--headless`` prints the same status as log lines and,
first, one ``endpoint <name> <address>`` line per interface the meter serves.
"""
from __future__ import annotations

import argparse
import fcntl
import ipaddress
import os
import signal
import sys
import time
from pathlib import Path

from sumame.firmware.core.scheduler import Priority, readable, sleep

from ..aroute_credentials import credential_lines, write_keys_file
from ..cli import CliError
from ..control import ControlServer, Operator
from .runtime import Runtime, build_runtime, open_board
from .wisun_setup import attach_emulated_wisun, credentials_qr, qr_terminal_text
from .status import collect, status_line, status_panel

EMULATE_HOOKS: list = []
EMULATE_PRE_BOOT_HOOKS: list = []
"""``hook(runtime, args)`` before the meter boots (e.g. hardware extras of the IoT route)."""
EMULATE_STATUS_ROWS: list = []
"""``rows(runtime) -> [(name, value)]`` added to the live display and the headless status."""
"""Callables ``hook(runtime, args)`` that later layers register to add their services (routes,
dongles); each appends to ``runtime.endpoints``. Options they need are added by
``EMULATE_OPTIONS`` callables ``add(parser)``."""
EMULATE_OPTIONS: list = []


def default_state_dir(board: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "sumame" / board


def add_parser(sub) -> None:
    p = sub.add_parser("emulate", help="run a meter in real time (live status; Ctrl-C stops)",
                       description="Run the meter firmware in real time on a board's (emulated) hardware.")
    p.add_argument("--board", default="emulated-lv", help="board name or .toml path (default emulated-lv)")
    p.add_argument("--state-dir", type=Path, help="flash image and runtime files (default "
                                                  "$XDG_STATE_HOME/sumame/<board>)")
    p.add_argument("--headless", action="store_true", help="log lines instead of the live display")
    p.add_argument("--status-interval", type=float, default=10.0, metavar="S",
                   help="seconds between headless status lines (default 10)")
    p.add_argument("--speed", type=float, default=1.0, metavar="RATIO",
                   help="run the meter's clock RATIO times faster than real time (default 1)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S wall-clock seconds")
    p.add_argument("--profile", help="load profile name or CSV file (default: board's)")
    p.add_argument("--seed", type=int, help="seed of the load profile (default: board's)")
    p.add_argument("--echonet-ip", metavar="ADDR", action="append",
                   help="address the IP B-route (ECHONET Lite, UDP 3610) serves on; repeat for "
                        "several (default: the board's, 127.0.0.1)")
    p.add_argument("--echonet-port", type=int, metavar="PORT", help="UDP port (default 3610)")
    p.add_argument("--dongle-personality", choices=("bp35c2", "bp35a1", "rl7023-dss", "j11"), default="bp35c2",
                   help="dialect of the HEMS-side emulated Wi-SUN dongle (default bp35c2; j11 = ROHM "
                        "BP35C0-J11 binary UART, as in RATOC RS-WSUHA-J11)")
    p.add_argument("--air-mode", choices=("fast", "accurate"), default="accurate",
                   help="virtual 920 MHz air and dongle timing: 'accurate' (default) paces the dongles like "
                        "real ones (115200-baud UART, airtime at 100 kbit/s, MAC ACKs, SKSCAN ~18 s at "
                        "duration 6, SKJOIN a few seconds, ARIB duty limits); 'fast' is unthrottled "
                        "(for tests and benches)")
    p.add_argument("--pcap", type=Path, metavar="FILE",
                   help="write the 920 MHz traffic to a pcap (IEEE 802.15.4, opens in Wireshark)")
    from ..quirks import add_options
    add_options(p)
    for add in EMULATE_OPTIONS:
        add(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        raise CliError(f"--speed must be > 0, got {args.speed}")
    if args.status_interval <= 0:
        raise CliError("--status-interval must be > 0")
    overrides = {}
    if args.echonet_ip:
        _check_addresses(args.echonet_ip)
        overrides.setdefault("broute", {})["ip"] = args.echonet_ip
    if args.echonet_port is not None:
        overrides.setdefault("broute", {})["port"] = args.echonet_port
    board = open_board(args.board, overrides)
    state_dir = args.state_dir or default_state_dir(board.name)
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(state_dir)
    _log_to_file(state_dir / "emulate.log", args.verbose)
    rt = build_runtime(board, virtual=False, ratio=args.speed, state_dir=state_dir, profile=args.profile,
                       seed=args.seed, strict=False, watchdog_thread=True,
                       start_epoch=_resume_time(state_dir), boot=False)
    rt.extras["state_dir"] = state_dir
    world = None
    if board["wisun"]["enabled"] and board["wisun"]["port"] == "emulated":
        world = attach_emulated_wisun(rt, state_dir, personality=args.dongle_personality,
                                      mode=args.air_mode, pcap=str(args.pcap) if args.pcap else None,
                                      keep_flash=True)
    from .. import quirks
    quirks.before_boot(rt, args)
    for hook in EMULATE_PRE_BOOT_HOOKS:
        hook(rt, args)
    rt.boot()
    try:
        for hook in EMULATE_HOOKS:
            hook(rt, args)
    except CliError:
        rt.meter.shutdown()
        rt.close()
        raise
    _install_signals(rt)
    _wait_for_comms(rt)
    rt.endpoints[:0] = rt.meter.endpoints
    control = ControlServer(rt, state_dir / "control.sock")
    control.start(rt.scheduler)
    rt.endpoints.append(("control", f"unix:{control.path}"))
    credentials = []
    if world is not None:
        rt.endpoints.append(("hems-dongle", world.hems_path))
        if world.air.pcap is not None:       # the link keys that decrypt the capture's data frames
            rt.endpoints.append(("air-pcap-keys", world.air.pcap.keys_path))
        credentials = _route_b_credentials(rt, state_dir)
    aroute = next((s for s in rt.meter.services if s.name == "a-route"), None)
    if aroute is not None:      # the values a DLMS client / head-end needs, printed and in a key file
        keys = write_keys_file(state_dir, rt.config.identity.serial, aroute.secrets,
                               getattr(aroute, "kek", None))
        from sumame.firmware.lifecycle.provisioning import source
        rt.extras["aroute_credentials"] = credential_lines(aroute.secrets) + [("a-route-keys", str(keys)),
                                                                              ("a-route-keys-from", source(rt.meter))]
        credentials += rt.extras["aroute_credentials"]
    rt.extras["credentials"] = credentials
    if args.headless:
        _headless(rt, args, state_dir)
    else:
        _live(rt, args, state_dir)
    rt.meter.shutdown()
    control.close()
    if world is not None:
        world.close()
    note = quirks.at_exit(rt, args)
    if note:
        print(note, file=sys.stderr if not args.headless else sys.stdout)
    (state_dir / "clock").write_text(f"{rt.clock.now():.3f}\n")
    rt.close()
    lock.close()
    print(f"stopped; meter state kept in {state_dir}", file=sys.stderr if not args.headless else sys.stdout)
    return 0


def _log_to_file(path: Path, verbose: int) -> None:
    """Logs go to a file: the live display owns the terminal, headless mode prints events."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _wait_for_comms(rt: Runtime, limit_s: float = 30.0) -> None:
    """Run until the comms units inserted at boot are up (their routes opened their ports)."""
    comms = rt.meter.switchgear.comms
    deadline = rt.clock.now() + limit_s
    while len(comms.results) < len(rt.built.hardware.comms) and rt.clock.now() < deadline:
        rt.scheduler.run(until=rt.clock.now() + 0.05)


def _check_addresses(addresses: list[str]) -> None:
    for address in addresses:
        try:
            ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            raise CliError(f"--echonet-ip {address!r} is not an IPv4 or IPv6 address") from None


def _route_b_credentials(rt, state_dir: Path) -> list[tuple[str, str]]:
    """The pair in force (renewed by the head-end, else the board's) and its QR code (PNG)."""
    from sumame.firmware.lifecycle.credentials import route_b_credentials

    route_b_id, password = route_b_credentials(rt.meter)
    qr_png = state_dir / "route-b-qr.png"
    qr = credentials_qr(route_b_id, password, qr_png)
    rt.extras["qr_text"] = qr_terminal_text(qr)
    return [("route-b-id", route_b_id), ("route-b-password", password), ("route-b-qr", str(qr_png))]


def _resume_time(state_dir: Path) -> float | None:
    """Where the meter's clock starts: the host's time, unless a faster-than-real-time run
    already took the meter's clock past it (the clock never goes backwards)."""
    try:
        saved = float((state_dir / "clock").read_text())
    except (OSError, ValueError):
        return None
    return max(saved, time.time())


def _lock(state_dir: Path):
    fh = open(state_dir / "lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise CliError(f"another sumame emulate is running on {state_dir} (use --state-dir)") from None
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _install_signals(rt: Runtime) -> None:
    def stop(signum, frame):
        rt.scheduler.stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _run(rt: Runtime, args) -> None:
    until = None if args.duration is None else rt.clock.now() + args.duration * args.speed
    rt.scheduler.run(until=until)


def _headless(rt: Runtime, args, state_dir: Path) -> None:
    print(f"sumame emulate: board {rt.board.name}, meter {rt.config.identity.serial}, state {state_dir} "
          f"(log {state_dir / 'emulate.log'})", flush=True)
    for name, address in rt.endpoints:
        print(f"endpoint {name} {address}", flush=True)
    for name, value in rt.extras["credentials"]:
        print(f"{name} {value}", flush=True)
    for event in rt.meter.events:
        if event.at >= rt.meter.booted_at:
            print(f"event {event}", flush=True)

    def show(event):
        print(f"event {event}", flush=True)
        if event.kind == "route-b-credentials" and rt.extras.get("credentials"):
            route_b = _route_b_credentials(rt, state_dir)   # the new pair and QR code
            rt.extras["credentials"] = route_b + rt.extras.get("aroute_credentials", [])
            for name, value in route_b:
                print(f"{name} {value}", flush=True)

    rt.meter.events.subscribe(show)
    rt.on_reboot.append(lambda meter: meter.events.subscribe(show))

    async def reporter():
        while True:
            print(status_line(collect(rt.meter)), flush=True)
            for rows in EMULATE_STATUS_ROWS:
                for name, value in rows(rt):
                    print(f"status-{name.lower().replace(' ', '-')} {value}", flush=True)
            await sleep(args.status_interval * args.speed)

    rt.scheduler.spawn(reporter(), name="status-log", priority=Priority.UI, group="tools")
    _run(rt, args)


KEYS = ("s: swap comms unit · o: 60 s outage · u: USB dongle in/out · l: 8 kW overload 60 s · "
        "k: quirks pause/resume · q: quit")


def _live(rt: Runtime, args, state_dir: Path) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    operator = Operator(rt)
    if rt.extras.get("qr_text"):
        creds = dict(rt.extras["credentials"])
        console.print(f"route-B credentials for your HEMS — ID {creds['route-b-id']}  "
                      f"password {creds['route-b-password']}  (PNG: {creds['route-b-qr']})")
        console.print(rt.extras["qr_text"], highlight=False)
    if rt.extras.get("aroute_credentials"):
        a = dict(rt.extras["aroute_credentials"])
        console.print(f"A-route credentials for your DLMS client / head-end — reader (0x20, LLS) password "
                      f"{a['a-route-lls-password']}  system title {a['a-route-system-title']}", highlight=False)
        console.print(f"  HLS-GMAC (0x30): block cipher key (EK) {a['a-route-block-key']}  "
                      f"authentication key (AK) {a['a-route-auth-key']}  (keys file: {a['a-route-keys']})",
                      highlight=False)
    title = f"sumame — {rt.board.name} — meter {rt.config.identity.serial}"
    footer = f"state {state_dir} · speed x{args.speed:g} · Ctrl-C or q stops (state is kept)"
    message = [""]

    def panel():
        return status_panel(collect(rt.meter), title, rt.endpoints, footer,
                            extra=_extra_rows(rt, message[0]))

    with Live(panel(), console=console, auto_refresh=False, transient=False) as live, _keyboard() as keys:
        async def display():
            while True:
                live.update(panel(), refresh=True)
                await sleep(1.0 * args.speed)

        async def keyboard():
            while keys is not None:
                await readable(keys)
                key = os.read(keys, 1).decode(errors="ignore").lower()
                message[0] = _on_key(key, rt, operator)
                live.update(panel(), refresh=True)

        rt.scheduler.spawn(display(), name="status-display", priority=Priority.UI, group="tools")
        rt.scheduler.spawn(keyboard(), name="keyboard", priority=Priority.UI, group="tools")
        _run(rt, args)


def _on_key(key: str, rt: Runtime, operator: Operator) -> str:
    try:
        if key == "q":
            rt.scheduler.stop()
            return "stopping"
        if key == "s":
            return operator.swap(operator.next_unit())
        if key == "o":
            return operator.outage(60)
        if key == "l":
            return operator.load(8000, 60)
        if key == "k":
            engine = rt.extras.get("quirks")
            if engine is None or not engine.quirks:
                return "no quirks on (--quirk NAME, or sumame ctl quirk NAME on)"
            engine.paused = not engine.paused
            return f"quirks {'paused' if engine.paused else 'resumed'}: {', '.join(engine.quirks)}"
        if key == "u":
            port = rt.built.emulated.get("usb_port")
            if port is not None and port.plugged():
                return operator.usb_unplug(next(iter(port.plugged())))
            return operator.usb_plug("bp35c2")
    except Exception as exc:  # noqa: BLE001 - shown to the user, the emulator goes on
        return f"{key}: {exc}"
    return KEYS


def _extra_rows(rt: Runtime, message: str) -> list[tuple[str, str]]:
    sw = rt.meter.switchgear
    rows = list(sw.breaker.status().rows())[:4]
    comms = sw.comms.summary()
    rows.append(("comms unit", ", ".join(f"{c['model'] or 'empty'}" for c in comms)))
    budget = dict(sw.budget.summary().rows())
    rows.append(("power budget", f"{budget.get('source', '')}; {budget.get('committed', '')} committed"))
    a = dict(rt.extras.get("aroute_credentials", ()))
    if a:
        rows.append(("a-route LLS password", a["a-route-lls-password"]))
        rows.append(("a-route system title", a["a-route-system-title"]))
        rows.append(("a-route EK / AK", f"{a['a-route-block-key']} / {a['a-route-auth-key']}"))
    engine = rt.extras.get("quirks")
    if engine is not None and engine.quirks:
        state = " (paused)" if engine.paused else ""
        rows.append(("quirks" + state, " · ".join(f"{q.name} fired {q.fired}" for q in engine.quirks.values())))
    for extra in EMULATE_STATUS_ROWS:
        rows.extend(extra(rt))
    rows.append(("keys", message or KEYS))
    return rows


class _keyboard:
    """stdin in cbreak mode while the live display runs (None when stdin is not a terminal)."""

    def __enter__(self):
        self.fd, self.saved = None, None
        if sys.stdin.isatty():
            import termios
            import tty
            self.fd = sys.stdin.fileno()
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self.fd

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
