"""Control channel of a running emulator: a unix socket with one JSON request per connection.

``sumame emulate`` serves it (``endpoint control unix:<path>``); ``sumame ctl`` is the client.
It is the bench operator's hand on the emulated hardware — comms unit swap, USB plug, mains
outage, load override — and a read-out of the meter. It is NOT a route into the meter: nothing
here reaches the switch, the ampere limit, the clock or keys (those obey the A-route only).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from sumame.firmware.core.scheduler import Priority, readable, sleep

from .cli import CliError
from .emulate.status import collect

MAX_REQUEST = 4096
"""Bytes of one request (a longer one is refused unparsed)."""
MAX_EVENTS = 200
"""Most events one ``events`` request returns."""
MAX_DEPTH = 8
"""Nesting a request may have (JSON arrays / objects); deeper is refused before parsing."""
MAX_ARGS = 16
SEND_TIMEOUT_S = 2.0


class ControlError(Exception):
    """A request the emulator cannot carry out (bad name, bad value)."""


def comms_catalogue():
    from sumame.drivers.emulated.comms_unit import CATALOGUE
    return CATALOGUE


def usb_catalogue():
    from sumame.drivers.emulated.usb.devices import CATALOGUE
    return CATALOGUE


class Operator:
    """What the control channel and the status-display keys can do to a runtime."""

    def __init__(self, runtime):
        self.rt = runtime

    @property
    def meter(self):
        return self.rt.meter

    def status(self) -> dict:
        s = collect(self.meter)
        sw = self.meter.switchgear
        return {
            "time": s.jst, "power_w": s.power_w, "current_a": list(s.current_a),
            "voltage_v": list(s.voltage_v), "forward_kwh": round(s.forward_kwh, 4),
            "reverse_kwh": round(s.reverse_kwh, 4), "register_forward": s.register_forward,
            "snapshots": s.snapshots, "alarms": s.alarms,
            "breaker": dict(sw.breaker.status().rows()),
            "power": dict(sw.budget.summary().rows()),
            "comms": sw.comms.summary(),
            "usb": sorted(self._plugged()),
            "endpoints": [f"{n} {a}" for n, a in self.rt.endpoints],
        }

    def events(self, n: int = 20) -> list[str]:
        n = int(n)
        if not 0 < n <= MAX_EVENTS:
            raise ControlError(f"events: ask for 1 to {MAX_EVENTS} events")
        return [str(e) for e in self.meter.events.recent(n)]

    def swap(self, unit: str, slot: str = "comms") -> str:
        catalogue = comms_catalogue()
        if unit not in catalogue:
            raise ControlError(f"unknown comms unit {unit!r}; known: {', '.join(catalogue)}")
        self.meter.switchgear.comms.request_swap(slot, catalogue[unit]())
        return f"swapping slot {slot} to {unit}"

    def next_unit(self) -> str:
        """The next unit in the catalogue that provides the same route media (status key)."""
        rows = self.meter.switchgear.comms.summary()
        current = rows[0]["model"] if rows else None
        names = [n for n in comms_catalogue() if n != "hog"]
        models = [comms_catalogue()[n]().descriptor.model for n in names]
        index = models.index(current) if current in models else -1
        return names[(index + 1) % len(names)]

    def usb_plug(self, device: str) -> str:
        port = self._usb_port()
        catalogue = usb_catalogue()
        if device not in catalogue:
            raise ControlError(f"unknown USB device {device!r}; known: {', '.join(catalogue)}")
        return f"plugged {device} at {port.plug(catalogue[device]())}"

    def usb_unplug(self, path: str) -> str:
        port = self._usb_port()
        if path not in port.plugged():
            raise ControlError(f"nothing plugged at {path!r}; plugged: {', '.join(port.plugged()) or 'none'}")
        port.unplug(path)
        return f"unplugged {path}"

    def _plugged(self) -> dict:
        port = self.rt.built.emulated.get("usb_port")
        return {} if port is None else port.plugged()

    def _usb_port(self):
        port = self.rt.built.emulated.get("usb_port")
        if port is None:
            raise ControlError("this board has no emulated USB port")
        return port

    def outage(self, seconds: float) -> str:
        seconds = float(seconds)
        if not 0 < seconds <= 30 * 86400:
            raise ControlError("outage length must be between 0 and 30 days (seconds)")
        self.rt.mains.outage_now(seconds)
        return f"mains off for {seconds:g} s"

    def load(self, watts: float, seconds: float) -> str:
        from sumame.drivers.emulated.profiles import OverrideProfile

        chip = self.rt.built.emulated.get("chip")
        if chip is None:
            raise ControlError("this board has no emulated metering chip")
        watts, seconds = float(watts), float(seconds)
        if not -100_000 <= watts <= 100_000 or not 0 < seconds <= 86400:
            raise ControlError("load must be within ±100 kW for 0 s to 1 day")
        chip.sync()
        now = self.rt.clock.now()
        chip.profile = OverrideProfile(chip.profile, now, now + seconds, watts)
        chip.sync()
        return f"load forced to {watts:g} W for {seconds:g} s"

    def decommission(self, export: str = "") -> str:
        """Disposal: export the interval data the utility keeps, then secure-erase the meter."""
        from sumame.firmware.lifecycle.erase import decommission

        if self.meter.lifecycle is None:
            raise ControlError("this meter has no code flash: cannot decommission")
        path = Path(export) if export else self.rt.extras.get("state_dir", Path(".")) / \
            f"export-{self.rt.config.identity.serial}.json"
        rows = [{"minute": s.minute, "epoch": s.epoch, "forward_mwh": s.forward_mwh,
                 "reverse_mwh": s.reverse_mwh} for s in self.meter.registers.snapshots()]
        path.write_text(json.dumps({"serial": self.rt.config.identity.serial, "snapshots": rows}))
        pages = decommission(self.meter)
        return f"exported {len(rows)} snapshots to {path}; erased {pages} flash pages; " \
               f"the meter refuses service until it is provisioned again"

    def quirk(self, *args: str) -> str:
        from .quirks import ctl_quirk
        return ctl_quirk(self, *args)

    COMMANDS = {"status": status, "events": events, "swap": swap, "usb-plug": usb_plug,
                "usb-unplug": usb_unplug, "outage": outage, "load": load, "quirk": quirk,
                "decommission": decommission}

    def execute(self, request: dict) -> dict:
        command = request.get("command")
        handler = self.COMMANDS.get(command)
        if handler is None:
            return {"ok": False, "error": f"unknown command {command!r}; known: {', '.join(self.COMMANDS)}"}
        try:
            return {"ok": True, "result": handler(self, *request.get("args", []))}
        except (ControlError, TypeError, ValueError, ArithmeticError) as exc:
            return {"ok": False, "error": str(exc)}


class ControlServer:
    """Unix-socket server task (real clock only)."""

    def __init__(self, runtime, path: Path):
        self.operator = Operator(runtime)
        self.path = path
        if path.exists() or path.is_symlink():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o600)
        self.sock.listen(4)
        self.sock.setblocking(False)
        self.served = 0

    def start(self, scheduler) -> None:
        scheduler.spawn(self.run(), name="control", priority=Priority.UI, group="tools")

    async def run(self) -> None:
        while True:
            await readable(self.sock)
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                continue
            with conn:
                conn.setblocking(False)
                reply = await self._serve(conn)
                try:
                    await _send(conn, json.dumps(reply, default=str).encode() + b"\n")
                except (OSError, TimeoutError):
                    pass                          # the client went away or does not read
                self.served += 1

    async def _serve(self, conn) -> dict:
        """Read one request (at most MAX_REQUEST bytes, 2 s per chunk) and answer it."""
        data = b""
        while not data.endswith(b"\n"):
            if not await readable(conn, timeout=2.0):
                break
            try:
                chunk = conn.recv(MAX_REQUEST + 1 - len(data))
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_REQUEST:
                return {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"}
        return self.handle(data)

    def handle(self, data: bytes) -> dict:
        """One raw request -> the reply (bad input gets a one-line error, never an exception)."""
        if len(data) > MAX_REQUEST:
            return {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"}
        if _depth(data) > MAX_DEPTH:
            return {"ok": False, "error": f"request nested deeper than {MAX_DEPTH}"}
        try:
            request = json.loads(data or b"{}")
        except (ValueError, RecursionError) as exc:
            return {"ok": False, "error": f"request is not JSON: {exc}"}
        args = request.get("args", []) if isinstance(request, dict) else []
        if not isinstance(args, list) or len(args) > MAX_ARGS:
            return {"ok": False, "error": f"args must be a list of at most {MAX_ARGS} values"}
        return self.operator.execute(request if isinstance(request, dict) else {})

    def close(self) -> None:
        self.sock.close()
        if self.path.exists():
            self.path.unlink()


def _depth(data: bytes) -> int:
    """Deepest nesting of brackets in ``data`` (strings ignored roughly: good enough to refuse)."""
    depth = deepest = 0
    for b in data:
        if b in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


async def _send(conn, data: bytes) -> None:
    """Write without blocking the scheduler; TimeoutError if the client does not read."""
    view, waited = memoryview(data), 0.0
    while view:
        try:
            view = view[conn.send(view):]
        except BlockingIOError:
            if waited >= SEND_TIMEOUT_S:
                raise TimeoutError("control client does not read") from None
            await sleep(0.01)
            waited += 0.01


# --------------------------------------------------------------------------- client CLI

def add_parser(sub) -> None:
    p = sub.add_parser("ctl", help="operate a running emulator (swap comms unit, outage, USB, status)",
                       description="Talk to a running `sumame emulate` through its control socket.")
    p.add_argument("--state-dir", type=Path, help="state directory of the emulator")
    p.add_argument("--board", default="emulated-lv", help="board name (to find the default state directory)")
    p.add_argument("command", choices=sorted(Operator.COMMANDS), help="what to do")
    p.add_argument("args", nargs="*", help="swap UNIT | usb-plug DEVICE | usb-unplug PATH | "
                                           "outage SECONDS | load WATTS SECONDS | events [N] | "
                                           "quirk NAME on|off [k=v ...] | quirk list | decommission [EXPORT.json]")
    p.set_defaults(func=run_client)


def run_client(args: argparse.Namespace) -> int:
    from .emulate.cli import default_state_dir

    state_dir = args.state_dir or default_state_dir(args.board)
    path = state_dir / "control.sock"
    reply = request(path, {"command": args.command, "args": args.args})
    if not reply.get("ok"):
        print(f"sumame ctl: {reply.get('error')}", file=sys.stderr)
        return 1
    result = reply["result"]
    if isinstance(result, str):
        print(result)
    elif isinstance(result, list):
        print("\n".join(map(str, result)))
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def request(path: Path, payload: dict, timeout: float = 10.0) -> dict:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps(payload).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise CliError(f"no emulator is listening on {path} (start `sumame emulate` first)") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc}") from None
    try:
        return json.loads(data)
    except ValueError:
        raise CliError(f"{path}: the emulator sent something that is not JSON") from None
