"""``sumame hems``: a small HEMS-side ECHONET Lite client over UDP (B-route over IP).

    sumame hems --ip 127.0.0.2 get E7 E8 E0 E1 D3 EA
    sumame hems --ip 127.0.0.2 history --day 1
    sumame hems discover --interface 127.0.0.1        (multicast probe, prints who answers)

Values are printed decoded with units: W, A (0.1 A steps), kWh = raw x D3 x E1; HV (0x028A):
kWh = raw x E6 x D3 x D4, kW demand x C5 (C7) x D3 x D4, kvarh x CD x D3 x D4 (tools/hems/hv.py);
date-times in JST. Uses the firmware's codec; it is a real UDP client, nothing in-process.
"""
from __future__ import annotations

import argparse
import ipaddress
import zlib
import socket
import struct
import time

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import CONTROLLER, NODE_PROFILE, Eoj, Esv, Frame, Property

from .hv import HV_NAMES, HvScale, describe_hv

UNIT = {0x00: 1, 0x01: 0.1, 0x02: 0.01, 0x03: 0.001, 0x04: 0.0001,
        0x0A: 10, 0x0B: 100, 0x0C: 1000, 0x0D: 10000}
MULTIPLIER = {0x00: 1, 0x01: 0.1, 0x02: 0.01, 0x03: 0.001}
NO_DATA = 0xFFFFFFFE
SUPER_NAMES = {
    0x80: "operation status", 0x81: "installation location", 0x82: "standard version",
    0x83: "identification number", 0x86: "manufacturer's fault code", 0x88: "fault status",
    0x89: "fault description", 0x8A: "manufacturer code", 0x8B: "business facility code",
    0x8C: "product code", 0x8D: "production number", 0x8E: "production date",
    0x8F: "power-saving operation", 0x93: "remote control setting", 0x97: "current time",
    0x98: "current date", 0x9A: "cumulative operating time",
    0x9D: "status-change announcement map", 0x9E: "Set property map", 0x9F: "Get property map"}
LV_NAMES = {
    **SUPER_NAMES,
    0xC0: "route-B identification number", 0xD0: "1-minute cumulative energy (normal, reverse)",
    0xD3: "coefficient", 0xD7: "effective digits", 0xE0: "cumulative energy (normal)",
    0xE1: "unit of cumulative energy", 0xE2: "history 1 (normal)", 0xE3: "cumulative energy (reverse)",
    0xE4: "history 1 (reverse)", 0xE5: "day for history 1", 0xE7: "instantaneous power",
    0xE8: "instantaneous current", 0xEA: "fixed-time cumulative energy (normal)",
    0xEB: "fixed-time cumulative energy (reverse)", 0xEC: "history 2 (normal, reverse)",
    0xED: "day/time for history 2", 0xEE: "history 3, 1-minute (normal, reverse)",
    0xEF: "day/time for history 3"}


def default_bind(ip: str) -> str:
    """Local address to listen on: for a loopback IPv4 meter one fixed 127.x.y.z derived from the
    meter's address (never the meter's own, so the two never share address:port 3610, and the
    same on every call, so repeated calls are one HEMS controller to the meter's 3-device limit);
    else the wildcard of the meter's family."""
    if ip.startswith("127."):
        h = zlib.crc32(ip.encode())
        for salt in range(256):
            local = f"127.{1 + (h >> 16) % 254}.{1 + (h >> 8) % 254}.{2 + (h + salt) % 253}"
            if local != ip:
                return local
    return "::" if ":" in ip else "0.0.0.0"


class HemsClient:
    """Blocking request/response over one UDP socket bound to the ECHONET Lite port.

    A node answers to the requester's port 3610 (ECHONET Lite Part 2 §1.2), not to the source
    port, so the client listens on ``port`` at ``bind`` (default: ``default_bind(ip)``). ``bind``
    must differ from the meter's own address when both run on one host."""

    def __init__(self, ip: str, port: int = 3610, timeout: float = 5.0, bind: str | None = None):
        self.addr = (ip, port)
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        local = bind or default_bind(ip)
        if (":" in local) != (family == socket.AF_INET6):
            raise ValueError(f"--bind {local} is not of the meter's address family")
        if local == ip:
            raise ValueError(f"--bind {local} is the meter's own address: use another local address")
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((local, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(f"cannot listen on {local} port {port}: {exc.strerror or exc}") from None
        self.timeout = timeout
        self.tid = int(time.monotonic() * 1000) & 0x7FFF

    def close(self) -> None:
        self.sock.close()

    def request(self, deoj: Eoj, esv: Esv, props, get_props=()) -> Frame:
        self.tid = self.tid % 0xFFFF + 1
        frame = Frame(self.tid, CONTROLLER, deoj, esv, tuple(props), tuple(get_props))
        self.sock.sendto(el.encode(frame), self.addr)
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer from {self.addr[0]}:{self.addr[1]} within {self.timeout:g} s")
            self.sock.settimeout(remaining)
            try:
                data, _ = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            try:
                reply = el.decode(data)
            except el.EchonetError:
                continue
            if reply.tid == frame.tid and reply.esv is not Esv.INF:
                return reply

    def get(self, deoj: Eoj, epcs) -> dict[int, bytes | None]:
        reply = self.request(deoj, Esv.GET, [Property(e) for e in epcs])
        return {p.epc: (p.edt if p.pdc else None) for p in reply.props}

    def meter_eoj(self) -> Eoj:
        d6 = self.get(NODE_PROFILE, [0xD6]).get(0xD6)
        if not d6:
            raise TimeoutError("the node did not give its instance list (D6)")
        for i in range(d6[0]):
            eoj = Eoj(*d6[1 + 3 * i:4 + 3 * i])
            if eoj.class_code in (0x0288, 0x028A):
                return eoj
        raise ValueError("the node holds no smart electric energy meter (0x0288 / 0x028A)")


# ------------------------------------------------------------------ formatting


def jst(raw: bytes) -> str:
    if raw[:2] == b"\xff\xff":
        return "(not set)"
    year = int.from_bytes(raw[:2], "big")
    parts = list(raw[2:]) + [0] * (5 - len(raw[2:]))
    return f"{year:04d}-{parts[0]:02d}-{parts[1]:02d} {parts[2]:02d}:{parts[3]:02d}:{parts[4]:02d} JST"


class Scale:
    """kWh per raw count: E1 x D3 (LV) or E6 x D3 x D4 (HV)."""

    def __init__(self, values: dict[int, bytes | None], hv: bool):
        unit = values.get(0xE6 if hv else 0xE1)
        coef = values.get(0xD3)
        mult = values.get(0xD4) if hv else None
        self.kwh = (UNIT.get(unit[0], 1) if unit else 1) * (int.from_bytes(coef, "big") if coef else 1)
        if mult:
            self.kwh *= MULTIPLIER.get(mult[0], 1)
        self.hv = HvScale(values) if hv else None

    def energy(self, raw: int) -> str:
        """Raw register -> "12345.6 kWh" with the decimals the scale carries."""
        if raw == NO_DATA:
            return "no data"
        decimals = max(0, min(4, round(-__import__("math").log10(self.kwh)) if self.kwh < 1 else 0))
        return f"{raw * self.kwh:.{decimals}f} kWh"


def describe(epc: int, edt: bytes | None, scale: Scale, hv: bool = False) -> str:
    if edt is None:
        return "not available (PDC=0)"
    u32 = lambda b: int.from_bytes(b, "big")  # noqa: E731
    if epc in (0x9D, 0x9E, 0x9F):
        return " ".join(f"{e:02X}" for e in el.decode_property_map(edt))
    if hv and epc >= 0xC0:
        text = describe_hv(epc, edt, scale.hv)
        return edt.hex() if text is None else text
    if epc == 0x97 and len(edt) == 2:
        return f"{edt[0]:02d}:{edt[1]:02d} JST"
    if epc == 0x98 and len(edt) == 4:
        return jst(edt + b"\x00\x00\x00")[:10]
    if epc in (0x8C, 0x8D):
        return edt.decode("ascii", "replace").strip("\x00 ")
    if epc == 0x8E and len(edt) == 4:
        return f"{int.from_bytes(edt[:2], 'big'):04d}-{edt[2]:02d}-{edt[3]:02d}"
    if epc == 0x88 and len(edt) == 1:
        return {0x41: "fault", 0x42: "no fault"}.get(edt[0], edt.hex())
    if epc == 0x80 and len(edt) == 1:
        return {0x30: "on", 0x31: "off"}.get(edt[0], edt.hex())
    if epc == 0x9A and len(edt) == 5:
        unit = {0x41: "s", 0x42: "min", 0x43: "h", 0x44: "days"}.get(edt[0], "?")
        return f"{int.from_bytes(edt[1:], 'big')} {unit}"
    if hv:
        return edt.hex()
    if epc == 0xE7 and len(edt) == 4:
        v = int.from_bytes(edt, "big", signed=True)
        return "not measured" if v == 0x7FFFFFFE else f"{v} W"
    if epc == 0xE8 and len(edt) == 4:
        def amp(b):
            v = int.from_bytes(b, "big", signed=True)
            return "not measured" if v == 0x7FFE else f"{v / 10:.1f} A"
        return f"R {amp(edt[:2])}, T {amp(edt[2:])}"
    if epc in (0xE0, 0xE3) and len(edt) == 4:
        return f"{scale.energy(u32(edt))} (raw {u32(edt)})"
    if epc == 0xE1 and len(edt) == 1:
        return f"{UNIT.get(edt[0], '?')} kWh per count"
    if epc in (0xD3, 0xD7, 0xE5) and edt:
        return str(u32(edt))
    if epc in (0xEA, 0xEB) and len(edt) == 11:
        return f"{jst(edt[:7])}  {scale.energy(u32(edt[7:]))}"
    if epc == 0xD0 and len(edt) == 15:
        return f"{jst(edt[:7])}  normal {scale.energy(u32(edt[7:11]))}, reverse {scale.energy(u32(edt[11:]))}"
    return edt.hex()


# ------------------------------------------------------------------ commands


def _epc(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"EPC {text!r} is not hexadecimal (e.g. E7)") from None
    if not 0x80 <= value <= 0xFF:
        raise argparse.ArgumentTypeError(f"EPC {text!r} is outside 80..FF")
    return value


def _day(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"day {text!r} is not a number") from None
    if not 0 <= value <= 99:
        raise argparse.ArgumentTypeError(f"day {value} is outside 0..99 (0 = today)")
    return value


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 or IPv6 address") from None


def add_parser(sub) -> None:
    p = sub.add_parser("hems", help="read a meter over the IP B-route (ECHONET Lite client)")
    p.add_argument("--ip", type=_ip, help="the meter's address (IPv4 or IPv6)")
    p.add_argument("--port", type=int, default=3610, help="UDP port (default 3610)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    p.add_argument("--bind", type=_ip, default=None,
                   help="local address to listen on at the ECHONET Lite port, where the meter "
                        "answers (default: one fixed 127.x.y.z per loopback meter address, else any)")
    cmds = p.add_subparsers(dest="hems_command", metavar="SUBCOMMAND")
    g = cmds.add_parser("get", help="Get properties and print them decoded")
    g.add_argument("epcs", nargs="+", type=_epc, metavar="EPC", help="hex EPCs, e.g. E7 E8 E0")
    h = cmds.add_parser("history", help="print the 48 half-hour values of a day (E5 then E2)")
    h.add_argument("--day", type=_day, default=0, help="0 = today .. 99 days ago")
    h.add_argument("--reverse", action="store_true", help="reverse direction (E4)")
    d = cmds.add_parser("discover", help="multicast probe for ECHONET Lite nodes (Get D6)")
    d.add_argument("--interface", type=_ip, default="127.0.0.1",
                   help="local IPv4 address to send the probe from (default 127.0.0.1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import CliError

    if args.hems_command is None:
        raise CliError("say what to do: get EPC..., history --day N, or discover")
    if args.hems_command == "discover":
        return discover(args)
    if args.ip is None:
        raise CliError("--ip ADDR is required (the meter's address)")
    try:
        client = HemsClient(args.ip, args.port, args.timeout, bind=args.bind)
    except (ValueError, OSError) as exc:
        print(f"sumame hems: {exc}")
        return 1
    try:
        eoj = client.meter_eoj()
        hv = eoj.class_code == 0x028A
        if args.hems_command == "get":
            return cmd_get(client, eoj, hv, args.epcs)
        return cmd_history(client, eoj, hv, args.day, args.reverse)
    except (TimeoutError, ValueError, OSError) as exc:
        print(f"sumame hems: {exc}")
        return 1
    finally:
        client.close()


def _scale(client, eoj, hv) -> Scale:
    return Scale(client.get(eoj, [0xE6, 0xD3, 0xD4, 0xC5, 0xC7, 0xCD] if hv else [0xE1, 0xD3]), hv)


def cmd_get(client, eoj, hv, epcs) -> int:
    scale = _scale(client, eoj, hv)
    values = client.get(eoj, epcs)
    print(f"meter {eoj} at {client.addr[0]}")
    for epc in epcs:
        name = {**SUPER_NAMES, **HV_NAMES}.get(epc, "") if hv else LV_NAMES.get(epc, "")
        print(f"  {epc:02X} {name:<42} {describe(epc, values.get(epc), scale, hv)}")
    return 0


def cmd_history(client, eoj, hv, day: int, reverse: bool) -> int:
    selector, epc = (0xE1, 0xE7) if hv else (0xE5, 0xE4 if reverse else 0xE2)
    reply = client.request(eoj, Esv.SETC, [Property(selector, bytes((day,)))])
    if reply.esv is not Esv.SET_RES:
        print(f"sumame hems: the meter refused day {day} (ESV 0x{reply.esv:02X})")
        return 1
    scale = _scale(client, eoj, hv)
    edt = client.get(eoj, [epc]).get(epc)
    if edt is None or len(edt) != 194:
        print(f"sumame hems: no history in the answer (EPC {epc:02X})")
        return 1
    print(f"meter {eoj} at {client.addr[0]}: day {int.from_bytes(edt[:2], 'big')} "
          f"({'reverse' if reverse else 'normal'} direction), cumulative energy at each half hour (JST)")
    for k in range(48):
        raw = int.from_bytes(edt[2 + 4 * k:6 + 4 * k], "big")
        print(f"  {k // 2:02d}:{30 * (k % 2):02d}  {scale.energy(raw)}")
    return 0


def discover(args) -> int:
    probe = el.encode(Frame(1, CONTROLLER, Eoj.of(0x0EF000), Esv.GET, (Property(0xD6),)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.interface, args.port))     # answers come to our port 3610 (Part 2 §1.2)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.interface))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
        s.sendto(probe, ("224.0.23.0", args.port))
        deadline = time.monotonic() + args.timeout
        found = 0
        while (remaining := deadline - time.monotonic()) > 0:
            s.settimeout(remaining)
            try:
                data, peer = s.recvfrom(2048)
            except socket.timeout:
                break
            try:
                frame = el.decode(data)
            except el.EchonetError:
                continue
            for p in frame.props:
                if p.epc == 0xD6 and p.edt:
                    eojs = [str(Eoj(*p.edt[1 + 3 * i:4 + 3 * i])) for i in range(p.edt[0])]
                    print(f"{peer[0]}  {' '.join(eojs)}")
                    found += 1
    if not found:
        print("no ECHONET Lite node answered")
    return 0 if found else 1
