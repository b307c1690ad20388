"""The fuzz targets: one parser each, the typed errors it may raise, and seed inputs.

A target's ``run(data)`` feeds untrusted bytes to the parser. Raising one of ``allowed`` is the
parser saying "malformed" (fine); any other exception, or an input that exceeds the per-input
time limit, is a finding. Seeds are real encodings made with our own encoders, so the fuzzer
starts inside the interesting part of the input space.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]] = field(default=lambda: [])
    modules: tuple[str, ...] = ()
    """Modules whose code coverage counts (instrumented by atheris)."""


def _echonet():
    from sumame.firmware.net import echonet as el

    def run(data):
        frame = el.decode(data)
        el.encode(frame)
        for prop in frame.props:
            if prop.epc in (0x9D, 0x9E, 0x9F):
                try:
                    el.decode_property_map(prop.edt)
                except el.EchonetError:
                    pass

    def seeds():
        get = el.Frame(1, el.Eoj(0x05, 0xFF, 1), el.Eoj(0x02, 0x88, 1), el.Esv.GET,
                       (el.Property(0xE7, b""), el.Property(0xE0, b""), el.Property(0x9F, b"")))
        inf = el.Frame(2, el.Eoj(0x0E, 0xF0, 1), el.Eoj(0x0E, 0xF0, 1), el.Esv.INF,
                       (el.Property(0xD5, b"\x01\x02\x88\x01"),))
        return [el.encode(get), el.encode(inf)]
    return Target("echonet", run, (el.EchonetError,), seeds, ("sumame.firmware.net.echonet",))


def _skstack(side: str):
    from sumame.drivers import skstack_protocol as sp
    from sumame.hal.errors import CommsError

    def run(data):
        dialect = "c2" if data[:1] and data[0] & 1 else "se"
        if side == "host":
            parser = sp.HostParser(sp.Layout(dialect, bool(data[:1] and data[0] & 2),
                                             bool(data[:1] and data[0] & 4)))
        else:
            parser = sp.DeviceParser(6 if dialect == "c2" else 5)
        for i in range(0, len(data), 17):           # arrives in UART-sized chunks
            parser.feed(data[i:i + 17])

    def seeds():
        if side == "host":
            return [b"\x01EVENT 21 FE80:0000:0000:0000:021D:1290:1234:5678 00 00\r\nOK\r\n",
                    b"\x00ERXUDP FE80:0000:0000:0000:021D:1290:1234:5678 FE80:0000:0000:0000:021D:1290:"
                    b"0003:C890 0E1A 0E1A 001D129012345678 1 0012 108100000EF0010EF0017201D50401028801\r\n",
                    b"\x01EPANDESC\r\n  Channel:21\r\n  Channel Page:09\r\n  Pan ID:8888\r\n"
                    b"  Addr:001D129012345678\r\n  LQI:E1\r\n  Side:0\r\n  PairID:00000000\r\n"]
        return [b"\x01SKSENDTO 1 FE80:0000:0000:0000:021D:1290:1234:5678 0E1A 1 0 0004 \x10\x81\x00\x01\r\n",
                b"\x00SKSCAN 2 FFFFFFFF 6\r\nSKJOIN FE80::1\r\nSKSREG S2 21\r\n"]
    modules = ("sumame.drivers.skstack_protocol",) if side == "host" else ("sumame.drivers.skstack_device_parser",)
    return Target(f"skstack-{side}", run, (CommsError,), seeds, modules)


def _j11():
    from sumame.drivers import j11_messages as m
    from sumame.drivers import j11_protocol as jp

    payloads = (m.InitialSettings, m.ScanRequest, m.ScanResult, m.RouteBLink, m.Credentials, m.TransmitRequest,
                m.TransmitResult, m.DataReceived, m.PanaResult, m.ConnectionStatus, m.Version)

    def run(data):
        reader = jp.FrameReader(jp.REQUEST_CODE if data[:1] and data[0] & 1 else jp.RESPONSE_CODE)
        for i in range(0, len(data), 13):           # arrives in UART-sized chunks
            for item in reader.feed(data[i:i + 13]):
                if isinstance(item, jp.Frame):
                    for cls in payloads:
                        _try(cls.decode, item.data, (jp.PayloadError,))
        reader.drop_pending()
        jp.decode_frame(data[1:])

    def seeds():
        return [b"\x01" + jp.encode_frame(0x0051, m.ScanRequest(6, pairing_id=b"CCDDEEFF").encode()),
                b"\x00" + jp.response_frame(0x206B, bytes.fromhex("01040001030000158A")),
                b"\x00" + jp.response_frame(0x6018, m.DataReceived(bytes(16), 3610, 3610, 1, False, True, -60,
                                                                  b"\x10\x81").encode())]
    return Target("j11", run, (jp.J11ProtocolError,), seeds,
                  ("sumame.drivers.j11_protocol", "sumame.drivers.j11_messages"))


def _pana():
    from sumame.firmware.net import pana_codec

    def seeds():
        return [pana_codec.PanaMessage(1, 0, 0, 0).encode(),
                pana_codec.PanaMessage(2, 0x8000, 0x11223344, 1, (pana_codec.u32(7, 1),)).encode()]
    return Target("pana", pana_codec.decode, (pana_codec.PanaError,), seeds,
                  ("sumame.firmware.net.pana_codec",))


def _eap_psk():
    from sumame.firmware.net import eap_psk

    def run(data):
        eap_psk.decode_psk(eap_psk.decode_eap(data))
        server = eap_psk.EapPskServer(bytes(16), b"srv", random_bytes=lambda n: bytes(n))
        server.start()
        server.handle(data)
        eap_psk.EapPskPeer(bytes(16), b"peer", random_bytes=lambda n: bytes(n)).handle(data)

    def seeds():
        server = eap_psk.EapPskServer(bytes(16), b"srv", random_bytes=lambda n: bytes(n))
        first = server.start()
        return [first] if isinstance(first, (bytes, bytearray)) else []
    return Target("eap-psk", run, (eap_psk.EapError,), seeds, ("sumame.firmware.net.eap_psk",))


def _ieee802154():
    from sumame.firmware.net import ieee802154 as mac

    def run(data):
        frame = mac.decode(data, with_fcs=bool(data[:1] and data[0] & 1))
        if frame.frame_type == 0:
            mac.parse_beacon(frame)
    return Target("ieee802154", run, (mac.FrameError,), lambda: [], ("sumame.firmware.net.ieee802154",))


def _lowpan():
    from sumame.firmware.net import lowpan

    def run(data):
        lowpan.decode(data, bytes(range(8)), bytes(range(8, 16)))

    def seeds():
        return [bytes.fromhex("7ef00e1a0e1a00") + b"\x10\x81\x00\x01\x05\xff\x01\x02\x88\x01\x62\x01\xe7\x00"]
    return Target("lowpan", run, (lowpan.LowpanError,), seeds, ("sumame.firmware.net.lowpan",))


_DLMS_SEEDS = (
    "C001C100070100630100FF0201010204020412000809060000010000FF0F02120000090C07E90401FF00000000FDE400"
    "090C07E90401FF173B3B00FDE4000100",
    "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738BE10040E01000000065F1F0400007E1F04B0",
    "0F000000010C07E90401FF00000000FDE400020309060000600100FF0A06534D3030303106000003E8",
    "7EA01F21022373E6C7818012050180060180070400000001080400000001533B7E",
    "13020201120001120002", "C2010C07E90401FF00000000FDE40000010000600B00FF02120005",
    "0001000100010010C001C100070100630100FF0200")


def _dlms_seeds():
    return [bytes.fromhex(h) for h in _DLMS_SEEDS]


def _dlms(kind: str):
    from sumame.firmware.net.dlms import axdr
    from sumame.firmware.net.dlms.acse import Aare, Aarq, ReleaseRequest
    from sumame.firmware.net.dlms.apdu import decode_apdu
    from sumame.firmware.net.dlms.errors import DlmsError
    from sumame.firmware.net.dlms.hdlc import FrameSplitter, HdlcFrame
    from sumame.firmware.net.dlms.wrapper import WrapperPdu, WrapperStream

    runs = {
        "dlms-axdr": lambda d: axdr.decode(d),
        "dlms-apdu": lambda d: decode_apdu(d),
        "dlms-aarq": lambda d: (_try(Aarq.decode, d, DlmsError), _try(Aare.decode, d, DlmsError),
                                ReleaseRequest.decode(d)),
        "dlms-hdlc": lambda d: (FrameSplitter().feed(d), HdlcFrame.decode(d)),
        "dlms-wrapper": lambda d: (WrapperStream().feed(d), WrapperPdu.decode(d)),
    }
    return Target(kind, runs[kind], (DlmsError,), _dlms_seeds, ("sumame.firmware.net.dlms",))


def _iot_special():
    from sumame.firmware.routes.iot import codec as c
    from sumame.firmware.routes.iot import special_cosem as sc

    def run(data):
        msg = c.decode(data)
        if msg.type == c.SPECIAL_VALUES:
            sc.decode_values(msg.body).encode()
        elif msg.type == c.SPECIAL_EVENT:
            sc.decode_event(msg.body).encode()

    def seeds():
        v = sc.SpecialValues(b"\x02\x00\x5e\x01\x02\x03\x01", 3, 1, 0x027E,
                             (sc.Slot(1775057400, 1000, 20), sc.Slot(1775059200, None, None)))
        e = sc.SpecialEvent(b"\x02\x00\x5e\x01\x02\x03\x01", 1775057400, sc.EV_CLOCK_FAULT, "off")
        return [c.encode(c.SPECIAL_VALUES, 1, v.encode()), c.encode(c.SPECIAL_EVENT, 2, e.encode())]
    return Target("iot-special", run, (c.IotCodecError,), seeds,
                  ("sumame.firmware.routes.iot.special_cosem", "sumame.firmware.routes.iot.codec"))


def _try(fn, data, allowed):
    try:
        return fn(data)
    except allowed:
        return None


def _usb_descriptor():
    from sumame.firmware.net import usb_descriptor as ud

    def run(data):
        cut = data[0] % (len(data) + 1) if data else 0
        _try(ud.parse_device, data, ud.UsbDescriptorError)
        ud.parse_descriptors(data[1:cut], data[cut:])
    def seeds():
        dev = ud.build_device(ud.DeviceDescriptor(0x0200, 0, 0, 0, 64, 0x0403, 0x6015, 0x1000,
                                                  1, 2, 3, 1))
        ep = ud.EndpointDescriptor(0x81, 2, 64, 0)
        conf = ud.build_configuration(ud.ConfigurationDescriptor(
            1, 0, 0x80, 50, (ud.InterfaceDescriptor(0, 0, 0xFF, 0, 0, 0, (ep,)),)))
        return [bytes([len(dev) + 1]) + dev + conf]
    return Target("usb-descriptor", run, (ud.UsbDescriptorError,), seeds,
                  ("sumame.firmware.net.usb_descriptor",))


_SCRATCH = None


def _scratch_file(name: str, data: bytes) -> str:
    """A file in a private RAM-backed scratch folder (loaders take paths, not bytes)."""
    global _SCRATCH
    if _SCRATCH is None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        _SCRATCH = tempfile.mkdtemp(prefix="sumame-fuzz-", dir=base)
    path = os.path.join(_SCRATCH, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _board_toml():
    from sumame.boards import BoardErrors, BoardNotFound, load_board, resolve

    base = resolve("emulated-lv").read_bytes()

    def run(data):
        load_board(_scratch_file("board.toml", data))
    return Target("board-toml", run, (BoardErrors, BoardNotFound), lambda: [base],
                  ("sumame.boards",))


def _csv_profile():
    from sumame.drivers.emulated.profiles import CsvProfile, ProfileError

    def run(data):
        CsvProfile(_scratch_file("load.csv", data), start_epoch=1_775_000_000.0)

    def seeds():
        return [b"timestamp,W,var,V\n2026-04-01T00:00:00+09:00,500,100,101.5\n"
                b"2026-04-01T00:01:00+09:00,650,120,101.2\n",
                b"1775000000,400,0,100\n1775000060,-300,0,100\n"]
    return Target("csv-profile", run, (ProfileError,), seeds, ("sumame.drivers.emulated.profiles",))


def _superblock():
    from sumame.firmware.storage.store import StorageLayout

    def run(data):
        StorageLayout.decode((data + b"\xff" * 256)[:256])

    def seeds():
        return [StorageLayout(4096, {"state": (1, 2), "events": (3, 4)}).encode()]
    return Target("flash-superblock", run, (ValueError,), seeds, ("sumame.firmware.storage.store",))


def _journal_recovery():
    from sumame.drivers.emulated.storage.flash import EmulatedFlash
    from sumame.firmware.storage.journal import Journal

    page = 256
    key = bytes(range(32))

    def seeds():
        flash = EmulatedFlash(None, page_size=page, page_count=3)
        journal = Journal(flash, 0, 3, name="fuzz", key=key)
        journal.recover()
        for i in range(12):
            journal.append(1, bytes([i]) * (i + 3))
        return [flash.image()]

    def run(data):
        flash = EmulatedFlash(None, page_size=page, page_count=3)
        flash.load_image((data + b"\xff" * (3 * page))[:3 * page])
        journal = Journal(flash, 0, 3, name="fuzz", key=key)
        journal.recover()                       # must classify anything, never raise
        journal.append(1, b"after")             # and keep storing
    return Target("journal-recovery", run, (), seeds, ("sumame.firmware.storage.journal",))


FACTORIES = {
    "echonet": _echonet,
    "skstack-host": lambda: _skstack("host"),
    "skstack-device": lambda: _skstack("device"),
    "j11": _j11,
    "pana": _pana,
    "eap-psk": _eap_psk,
    "ieee802154": _ieee802154,
    "lowpan": _lowpan,
    "dlms-axdr": lambda: _dlms("dlms-axdr"),
    "dlms-apdu": lambda: _dlms("dlms-apdu"),
    "dlms-aarq": lambda: _dlms("dlms-aarq"),
    "dlms-hdlc": lambda: _dlms("dlms-hdlc"),
    "dlms-wrapper": lambda: _dlms("dlms-wrapper"),
    "usb-descriptor": _usb_descriptor,
    "iot-special": _iot_special,
    "board-toml": _board_toml,
    "csv-profile": _csv_profile,
    "flash-superblock": _superblock,
    "journal-recovery": _journal_recovery,
}
"""Target name -> factory. A factory imports lazily, so the child instruments before import."""


def _selftest(kind: str):
    """Parsers with planted defects: prove the harness reports an escape and a hang."""
    def run(data):
        if len(data) > 3 and data[0] == 0x42:
            if kind == "escape":
                raise IndexError("planted defect")
            while True:
                pass
    return Target(f"selftest-{kind}", run, (ValueError,), lambda: [b"\x42abcd"], ())


SELFTESTS = {"selftest-escape": lambda: _selftest("escape"), "selftest-hang": lambda: _selftest("hang")}


def make(name: str) -> Target:
    try:
        return (FACTORIES | SELFTESTS)[name]()
    except KeyError:
        raise KeyError(f"unknown fuzz target {name!r}; known: {', '.join(FACTORIES)}") from None
