"""Emulated ROHM BP35C0-J11 dongle (RATOC RS-WSUHA-J11): the binary UART dialect, HEMS side.

The radio side is the same ``wisun_stack.WisunStack`` the SKSTACK dongles use (802.15.4,
6LoWPAN, PANA PaC, CCM*), on the same virtual ``Air``; this module only speaks the J11 frames
of ``drivers/j11_protocol.py`` to the host. Route-B sequence as public clients drive it::

    00D9 reset                 -> (no response) 6019 start-up notification
    006B version               -> 206B 01 0400 01 03 0000158A
    005F mode/sleep/ch/power   -> 205F 01
    0054 ID(32) + password(12) -> 2054 01
    0051 active scan           -> 4051 per channel (beacons or "none"), then 2051 01
    0053 start route B         -> 2053 01 ch PAN MAC RSSI (beacon of the meter on the set channel)
    0005 open UDP port         -> 2005 01 (0A: already open)
    0056 start PANA            -> 2056 01, later 6028 01 ok | 02 refused | 03 no answer, + MAC
    0008 transmit UDP          -> 2008 01 <queue|tx result> after the MAC transmission
    meter datagrams            -> 6018 (only for ports the host opened)
    0057 terminate PANA, 0058 terminate route B, 00D2 re-authenticate, 0006 close port,
    0107 get initial settings

Bad input (logged, counted in ``stats``; the emulation keeps serving): octets outside a frame
are dropped in silence; a bad header checksum -> 2FFF F0; a bad data checksum -> response F1;
a message length field over the maximum -> F3, under 4 -> F2; a frame whose data stops
arriving -> response 13 after 1 s; an unknown command code -> FFFF 03; a known one with a wrong
data size -> 11, out-of-range values -> 04; a request while a scan / route-B start /
transmission runs -> 3D. Commands the emulation does not implement (HAN side, status reads,
sleep, OTA…) are answered as unknown (FFFF 03), which a real module would not do.

The 6019 payload is empty here: the layout of its data part is not in the public material
found. Start-up takes ``boot_s`` (0 on the fast air, 0.2 s on the accurate air — our estimate).
"""
from __future__ import annotations

import logging
import os
import random
from collections import Counter
from typing import Callable

from sumame.firmware.net import lowpan

from ... import j11_messages as m
from ... import j11_protocol as p
from ...j11_protocol import Command, Notice, Result
from ..air import Air
from .dongle_faults import DongleFaults
from .dongle_flash import DongleFlash
from ..timeline import Timeline
from .stack import (EV_EXPIRED, EV_PANA_FAIL, EV_PANA_OK, EV_PEER_TERM, EV_SCAN_DONE, EV_TERM_OK,
                          EV_TERM_TIMEOUT, PANA_PORT, WisunStack)

log = logging.getLogger("sumame.drivers.emulated.wisun.dongle_j11")

MAC_PREFIX = "001D1291"               # ROHM OUI as on BP35C2-family dongles (cosmetic)
VERSION = m.Version(0x0400, 1, 3, 0x158A)  # a real BP35C0-J11 answer (ak1211 transcript)
MAX_PORTS = 6
RECEPTION_TIMEOUT_S = 1.0
ROUTE_B_SCAN_DURATION = 6             # internal beacon search of 0053 on the set channel
_FIXED_SIZES = {Command.OPEN_UDP_PORT: 2, Command.CLOSE_UDP_PORT: 2, Command.START_ROUTE_B: 0,
                Command.SET_ROUTE_B_AUTH: 44, Command.START_ROUTE_B_PANA: 0, Command.TERMINATE_ROUTE_B_PANA: 0,
                Command.TERMINATE_ROUTE_B: 0, Command.SET_INITIAL: 4, Command.GET_VERSION: 0,
                Command.REAUTH_ROUTE_B_PANA: 0, Command.HARDWARE_RESET: 0, Command.GET_INITIAL: 0}


class J11Dongle:
    """Device side of the J11 UART on the virtual air (same host-facing interface as
    ``dongle.EmulatedDongle``: ``feed``, ``attach_sink``, ``unplug``/``replug``, ``stats``)."""

    personality = "j11"

    def __init__(self, air: Air, timeline: Timeline, *, mac: str | None = None, seed: int | None = None,
                 name: str = "dongle", flash_path: str | os.PathLike | None = None):
        self.name = name
        self.timeline = timeline
        rng = random.Random(seed) if seed is not None else None
        self._random_bytes = (lambda n: bytes(rng.getrandbits(8) for _ in range(n))) if rng else os.urandom
        # the EUI-64 is factory-programmed: kept in the dongle's flash file so a restart finds it
        self.flash = DongleFlash.open(flash_path)
        self.mac_hex = (mac or self.flash.state.mac or (MAC_PREFIX + self._random_bytes(4).hex())).upper()
        if self.flash.state.mac != self.mac_hex:
            self.flash.state.mac = self.mac_hex
            self.flash.commit()
        self.mac = bytes.fromhex(self.mac_hex)
        self.faults = DongleFaults()
        self.stats: Counter[str] = Counter()
        self._sink: Callable[[bytes], None] | None = None
        self.unplugged = False
        self.stack = WisunStack(air, timeline, self.mac, self, random_bytes=self._random_bytes)
        self._gen = 0
        self._power_on()

    # ------------------------------------------------------------------ life cycle
    @property
    def boot_s(self) -> float:
        return 0.2 if self.stack.air.accurate else 0.0

    def _power_on(self) -> None:
        self._gen += 1
        self.reader = p.FrameReader(p.REQUEST_CODE)
        self._rx_timer = None
        self._rx_for: int | None = None
        self.stack.reset()
        self.settings: m.InitialSettings | None = None
        self.credentials: m.Credentials | None = None
        self.link: m.RouteBLink | None = None
        self.pana = "idle"                 # idle | running | open
        self.ports: set[int] = set()
        self._busy: str | None = None
        self._scan: dict | None = None
        self._pana_heard = False

    def attach_sink(self, sink: Callable[[bytes], None] | None) -> None:
        self._sink = sink

    def unplug(self) -> None:
        self.unplugged = True
        self.stack.air.detach(self.stack)
        self.stack.reset()
        self._gen += 1

    def host_closed(self) -> None:
        """The host closed the port (a pty hang-up): the frame it was sending is gone, as after
        the module's 1 s reception timeout; the module itself keeps its state and session."""
        if self._rx_timer is not None:
            self._rx_timer.cancel()
            self._rx_timer = None
        self._rx_for = None
        fault = self.reader.drop_pending()
        if fault is not None:
            self.stats["host-closed-mid-frame"] += 1
            log.info("%s: host closed the port mid-frame; %d octets dropped", self.name, fault.octets)

    def replug(self) -> None:
        """A power-on; a 6019 sent before the host opens the port is lost, so none is sent."""
        self.unplugged = False
        self.stack.air.attach(self.stack)
        self._power_on()

    # ------------------------------------------------------------------ output
    def _out(self, command: int, data: bytes = b"") -> None:
        if self.unplugged or self._sink is None:
            return
        raw = p.response_frame(command, data)
        f = self.faults
        raw = f.output(raw, self.stats)
        if raw is None:
            return
        if f.delay_s:
            self.timeline.call_later(f.delay_s, self._sink, raw)
        else:
            self._sink(raw)

    def _respond(self, command: int, result: int, data: bytes = b"") -> None:
        if result != Result.OK:
            self.stats[f"result-{result:02x}"] += 1
        self._out(command | p.RESPONSE_FLAG, bytes([result]) + data)

    def _later(self, delay_s: float, fn: Callable, *args) -> None:
        gen = self._gen

        def run() -> None:
            if gen == self._gen and not self.unplugged:
                fn(*args)
        self.timeline.call_later(delay_s, run)

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes) -> None:
        if self.unplugged:
            return
        if self.faults.input_lost(self.stats):
            return
        for item in self.reader.feed(data):
            if isinstance(item, p.Fault):
                self._fault(item)
            else:
                self._request(item)
        self._arm_rx_timer()

    def _arm_rx_timer(self) -> None:
        """The 1 s reception limit runs from the header of the frame being received."""
        pending = self.reader.headers if self.reader.pending is not None else None
        if self._rx_timer is not None and pending != self._rx_for:
            self._rx_timer.cancel()
            self._rx_timer = None
        if pending is not None and self._rx_timer is None:
            self._rx_for = pending
            # 1 s of the host's time: on a sped-up emulation clock (ratio > 1) the UART still
            # gives a host writing in pieces a real second
            limit = RECEPTION_TIMEOUT_S * getattr(self.timeline.clock, "ratio", 1.0)
            self._rx_timer = self.timeline.call_later(limit, self._rx_timeout, self._gen)

    def _rx_timeout(self, gen: int) -> None:
        self._rx_timer = None
        if gen != self._gen or self.unplugged:
            return
        fault = self.reader.drop_pending()
        if fault is not None and fault.command is not None:
            self._fault(fault)

    def _fault(self, fault: p.Fault) -> None:
        self.stats[f"bad-{fault.kind}"] += 1
        log.info("%s: dropped %d octets from the host (%s, command %s)", self.name, fault.octets, fault.kind,
                 "?" if fault.command is None else f"0x{fault.command:04X}")
        if fault.kind == "header-checksum":
            self._out(p.HEADER_CHECKSUM_RESPONSE, bytes([Result.HEADER_CHECKSUM]))
        elif fault.command is None:
            return                                           # garbage: silence
        elif fault.kind == "data-checksum":
            self._respond(fault.command, Result.DATA_CHECKSUM)
        elif fault.kind == "length-over":
            self._respond(fault.command, Result.LENGTH_OVER)
        elif fault.kind == "length-short":
            self._respond(fault.command, Result.LENGTH_SHORT)
        elif fault.kind == "truncated":
            self._respond(fault.command, Result.RECEPTION_TIMEOUT)

    def _request(self, frame: p.Frame) -> None:
        try:
            cmd = Command(frame.command)
        except ValueError:
            self.stats["bad-unknown-command"] += 1
            log.info("%s: unknown J11 command 0x%04X", self.name, frame.command)
            self._out(p.UNKNOWN_COMMAND_RESPONSE, bytes([Result.INVALID_COMMAND]))
            return
        self.stats[f"cmd-{frame.command:04x}"] += 1
        if cmd == Command.HARDWARE_RESET:
            self._reset()
            return
        size = _FIXED_SIZES.get(cmd)
        if size is not None and len(frame.data) != size:
            self._respond(cmd, Result.PARAMETER_LENGTH)
            return
        if self._busy is not None:
            self._respond(cmd, Result.BUSY)
            return
        try:
            getattr(self, "_cmd_" + cmd.name.lower())(frame.data)
        except p.PayloadError as exc:
            log.info("%s: command 0x%04X refused: %s", self.name, cmd, exc)
            self._respond(cmd, Result.INVALID_PARAMETER)

    # ------------------------------------------------------------------ commands
    def _reset(self) -> None:
        self._power_on()
        self._later(self.boot_s, self._out, Notice.STARTED)

    def _cmd_get_version(self, data: bytes) -> None:
        self._respond(Command.GET_VERSION, Result.OK, VERSION.encode())

    def _cmd_set_initial(self, data: bytes) -> None:
        settings = m.InitialSettings.decode(data)
        settings.check()
        if self.link is not None:
            self._respond(Command.SET_INITIAL, Result.ROUTE_B_RUNNING)
            return
        self.settings = settings
        self.stack.set_channel(m.sk_channel(settings.channel))
        self._respond(Command.SET_INITIAL, Result.OK)

    def _cmd_get_initial(self, data: bytes) -> None:
        if self.settings is None:
            self._respond(Command.GET_INITIAL, Result.NOT_STARTED)
            return
        self._respond(Command.GET_INITIAL, Result.OK, self.settings.encode())

    def _cmd_set_route_b_auth(self, data: bytes) -> None:
        creds = m.Credentials.decode(data)
        if self.pana == "running":
            self._respond(Command.SET_ROUTE_B_AUTH, Result.PANA_IN_PROGRESS)
            return
        self.credentials = creds
        self.stack.rbid, self.stack.password, self.stack.psk_override = creds.rbid, creds.password, None
        self._respond(Command.SET_ROUTE_B_AUTH, Result.OK)

    def _cmd_open_udp_port(self, data: bytes) -> None:
        port = int.from_bytes(data, "big")
        if port == 0:
            raise p.PayloadError("port 0")
        result = (Result.PORT_ALREADY_OPEN if port in self.ports
                  else Result.TOO_MANY_PORTS if len(self.ports) >= MAX_PORTS else Result.OK)
        if result == Result.OK:
            self.ports.add(port)
        self._respond(Command.OPEN_UDP_PORT, result)

    def _cmd_close_udp_port(self, data: bytes) -> None:
        port = int.from_bytes(data, "big")
        if port not in self.ports:
            self._respond(Command.CLOSE_UDP_PORT, Result.PORT_NOT_OPEN)
            return
        self.ports.discard(port)
        self._respond(Command.CLOSE_UDP_PORT, Result.OK)

    # active scan: one stack scan per J11 channel, so each channel gets its 4051
    def _cmd_active_scan(self, data: bytes) -> None:
        req = m.ScanRequest.decode(data)
        if not 1 <= req.duration <= 14 or req.channel_mask & ~p.ALL_CHANNELS_MASK or not req.channels:
            raise p.PayloadError("scan duration or channel mask out of range")
        if self.settings is None:
            self._respond(Command.ACTIVE_SCAN, Result.NOT_STARTED)
            return
        if self.link is not None:
            self._respond(Command.ACTIVE_SCAN, Result.ROUTE_B_RUNNING)
            return
        self._busy = "scan"
        self._scan = {"channels": req.channels, "duration": req.duration, "pairing": req.pairing_id,
                      "heard": [], "done": self._scan_finished}
        self._scan_next()

    def _scan_next(self) -> None:
        scan = self._scan
        if not scan["channels"]:
            self._scan = None
            scan["done"](scan)
            return
        scan["current"] = channel = scan["channels"].pop(0)
        scan["heard"] = []
        pairing = scan["pairing"]
        if pairing is not None:
            self.stack.pairing_id = pairing.decode("ascii", "replace")
        self.stack.scan(2 if pairing is not None else 3, 1 << (m.sk_channel(channel) - 33), scan["duration"])

    def _scan_finished(self, scan: dict) -> None:
        self._busy = None
        self._respond(Command.ACTIVE_SCAN, Result.OK)

    def _cmd_start_route_b(self, data: bytes) -> None:
        if self.settings is None:
            self._respond(Command.START_ROUTE_B, Result.NOT_STARTED)
            return
        if self.credentials is None:
            self._respond(Command.START_ROUTE_B, Result.PANA_NOT_READY)
            return
        if self.link is not None:
            self._respond(Command.START_ROUTE_B, Result.ROUTE_B_RUNNING)
            return
        self._busy = "route-b"
        self._scan = {"channels": [self.settings.channel], "duration": ROUTE_B_SCAN_DURATION,
                      "pairing": self.credentials.rbid[-8:].encode("ascii"), "heard": [],
                      "done": self._route_b_found, "quiet": True}
        self._scan_next()

    def _route_b_found(self, scan: dict) -> None:
        self._busy = None
        if not scan["heard"]:
            self._respond(Command.START_ROUTE_B, Result.MAC_CONNECTION_FAILED)
            return
        beacon = scan["heard"][0]
        self.link = m.RouteBLink(scan["current"], beacon.pan_id, beacon.mac, beacon.rssi)
        self.stack.pan_id = beacon.pan_id
        self._respond(Command.START_ROUTE_B, Result.OK, self.link.encode())

    def _cmd_terminate_route_b(self, data: bytes) -> None:
        if self.link is None:
            self._respond(Command.TERMINATE_ROUTE_B, Result.NOT_STARTED)
            return
        if self.pana == "open":
            self.stack.terminate()         # the PANA termination exchange drops the link key
        self.link, self.pana = None, "idle"
        self._respond(Command.TERMINATE_ROUTE_B, Result.OK)

    def _cmd_start_route_b_pana(self, data: bytes) -> None:
        if self.link is None:
            self._respond(Command.START_ROUTE_B_PANA, Result.NOT_STARTED)
            return
        if self.pana == "running":
            self._respond(Command.START_ROUTE_B_PANA, Result.PANA_IN_PROGRESS)
            return
        self.pana = "running"
        self._pana_heard = False
        self._respond(Command.START_ROUTE_B_PANA, Result.OK)
        self.stack.join(m.link_local(self.link.mac))

    def _cmd_reauth_route_b_pana(self, data: bytes) -> None:
        if self.pana != "open" or not self.stack.rejoin():
            self._respond(Command.REAUTH_ROUTE_B_PANA, Result.PANA_NO_SESSION)
            return
        self._respond(Command.REAUTH_ROUTE_B_PANA, Result.OK)

    def _cmd_terminate_route_b_pana(self, data: bytes) -> None:
        if self.pana != "open" or not self.stack.terminate():
            self._respond(Command.TERMINATE_ROUTE_B_PANA, Result.PANA_NO_SESSION)
            return
        self._respond(Command.TERMINATE_ROUTE_B_PANA, Result.OK)

    def _cmd_transmit_data(self, data: bytes) -> None:
        try:
            req = m.TransmitRequest.decode(data)
        except p.PayloadError:
            self._respond(Command.TRANSMIT_DATA, Result.PARAMETER_LENGTH)
            return
        if not req.payload or len(req.payload) > p.MAX_UDP_PAYLOAD:
            self._respond(Command.TRANSMIT_DATA, Result.PARAMETER_LENGTH)
            return
        if req.src_port == 0 or req.dst_port == 0:
            raise p.PayloadError("port 0")
        if self.link is None:
            self._respond(Command.TRANSMIT_DATA, Result.NOT_STARTED)
            return
        if req.dst[0] != 0xFF and req.dst[:8] != lowpan.LINK_LOCAL_PREFIX:
            self._respond(Command.TRANSMIT_DATA, Result.INVALID_ADDRESS)
            return
        self._busy = "transmit"
        gen = self._gen

        def done(result: int) -> None:
            if gen != self._gen:
                return
            self._busy = None
            self._respond(Command.TRANSMIT_DATA, Result.OK,
                          m.TransmitResult(False, 0x00 if result in (0, 2) else 0x05).encode())

        self.stack.sendto(req.src_port, req.dst, req.dst_port, 2, req.payload, done)

    # ------------------------------------------------------------------ StackHost
    def stack_event(self, num: int, addr: bytes | None, param: int | None = None) -> None:
        if num == EV_SCAN_DONE and self._scan is not None:
            scan = self._scan
            if not scan.get("quiet"):
                self._out(Notice.SCAN_RESULT, m.ScanResult(scan["current"], tuple(scan["heard"])).encode())
            self._scan_next()
            return
        if self.link is None:
            return
        mac = self.link.mac
        if num == EV_PANA_OK and self.pana != "open":
            self.pana = "open"
            self._out(Notice.PANA_RESULT, m.PanaResult(p.PanaOutcome.SUCCESS, mac).encode())
        elif num == EV_PANA_FAIL and self.pana == "running":
            self.pana = "idle"
            outcome = p.PanaOutcome.FAILED if self._pana_heard else p.PanaOutcome.NO_RESPONSE
            self._out(Notice.PANA_RESULT, m.PanaResult(outcome, mac).encode())
        elif num in (EV_TERM_OK, EV_TERM_TIMEOUT):
            self.pana = "idle"                                   # the host asked for it (0057)
        elif num in (EV_PEER_TERM, EV_EXPIRED) and self.pana == "open":
            self.pana = "idle"
            self._out(Notice.CONNECTION_STATUS,
                      m.ConnectionStatus(p.LinkStatus.PANA_DISCONNECTED, mac, self.link.rssi).encode())

    def stack_pandesc(self, channel, pan_id, addr, lqi, pairing_id) -> None:
        if self._scan is not None:
            self._scan["heard"].append(m.Beacon(bytes(addr), pan_id, m.lqi_to_dbm(lqi)))

    def stack_edscan(self, levels) -> None:
        pass

    def stack_rx(self, dgram, src_mac: bytes, secured: bool, lqi: int) -> None:
        # only called for ports ``port_open`` accepts (the stack counts the others)
        if dgram.dst_port == PANA_PORT:
            self._pana_heard = True                   # the PAA answers: a failure is a refusal
            return
        self._out(Notice.DATA_RECEIVED, m.DataReceived(
            dgram.src, dgram.src_port, dgram.dst_port, self.stack.pan_id, dgram.dst[0] == 0xFF, secured,
            m.lqi_to_dbm(lqi), dgram.payload).encode())

    def port_open(self, port: int) -> bool:
        return port == PANA_PORT or port in self.ports    # PANA stays inside the module (stack_rx)
