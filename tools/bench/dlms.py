"""DLMS/COSEM codec benchmark: APDU encode/decode rate of our codec vs gurux-dlms on the same data.

Two APDUs, both carried in a wrapper (TCP/UDP) frame:
* GET-response-normal holding a profile generic buffer of 48 rows {date-time octet-string(12),
  +A double-long-unsigned, -A double-long-unsigned} (one day of 30-min values);
* DataNotification with a push body {visible-string device id, date-time, +A, -A}.
Both implementations encode from a pre-built value tree and decode the same bytes; the bench
checks first that the two encoders produce the same APDU bytes (apart from the invoke-id byte),
so the ratio compares equal work. gurux-dlms is GPL and test-only: without it only ours is shown.
"""
from __future__ import annotations

from ...firmware.net.dlms import axdr
from ...firmware.net.dlms.apdu import decode_apdu
from ...firmware.net.dlms.cosem_time import epoch_to_octets
from ...firmware.net.dlms.notify import DataNotification
from ...firmware.net.dlms.wrapper import WrapperPdu
from ...firmware.net.dlms.xdlms import GetResponseNormal
from .cli import Bench, Figure
from .timing import best_rates

ROWS = 48
START = 1743433200.0   # 2025-04-01 00:00 JST


def _rows():
    return [(epoch_to_octets(START + k * 1800), 100000 + 25 * k, 5000 + 3 * k) for k in range(ROWS)]


def _notification_values():
    return ("SM0000000001", epoch_to_octets(START), 123456, 7890)


# ---------------------------------------------------------------- ours

def _ours():
    buffer = axdr.array(axdr.structure(axdr.octet_string(t), axdr.double_long_unsigned(a),
                                       axdr.double_long_unsigned(b)) for t, a, b in _rows())
    dev, stamp, a, b = _notification_values()
    body = axdr.structure(axdr.visible_string(dev), axdr.octet_string(stamp), axdr.double_long_unsigned(a),
                          axdr.double_long_unsigned(b))

    def encode_get():
        return WrapperPdu(1, 0x10, GetResponseNormal(buffer, 0xC1).encode()).encode()

    def encode_note():
        return WrapperPdu(1, 0x10, DataNotification(body).encode()).encode()

    def decode(frame):
        return lambda: decode_apdu(WrapperPdu.decode(frame).apdu)
    return encode_get, encode_note, decode


# ---------------------------------------------------------------- gurux

def _gurux():
    from gurux_dlms import (GXArray, GXByteBuffer, GXDLMSClient, GXDLMSNotify, GXReplyData, GXStructure,
                            GXUInt32)
    from gurux_dlms.GXDLMS import GXDLMS
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings
    from gurux_dlms.enums import Command, DataType, InterfaceType
    from gurux_dlms.internal._GXCommon import _GXCommon

    def structure(items):
        s = GXStructure()
        s.extend(items)
        return s

    rows = GXArray()
    rows.extend(structure([bytearray(t), GXUInt32(a), GXUInt32(b)]) for t, a, b in _rows())
    dev, stamp, a, b = _notification_values()
    settings = GXDLMSSettings(True, None)
    settings.interfaceType = InterfaceType.WRAPPER
    settings.clientAddress, settings.serverAddress = 0x10, 1
    notify = GXDLMSNotify(True, 0x10, 1, InterfaceType.WRAPPER)     # sender: wPorts 1 -> 0x10
    receiver = GXDLMSNotify(True, 1, 0x10, InterfaceType.WRAPPER)   # gurux checks source == its "client"

    def encode_get():
        data = GXByteBuffer()
        data.setUInt8(0)                               # Get-Data-Result: data
        _GXCommon.setData(settings, data, DataType.ARRAY, rows)
        p = GXDLMSLNParameters(settings, 0, Command.GET_RESPONSE, 1, None, data, 0xFF)
        return bytes(GXDLMS.getLnMessages(p)[0])

    def encode_note():
        body = GXByteBuffer()
        body.setUInt8(DataType.STRUCTURE)
        body.setUInt8(4)
        _GXCommon.setData(settings, body, DataType.STRING, dev)
        _GXCommon.setData(settings, body, DataType.OCTET_STRING, bytearray(stamp))
        _GXCommon.setData(settings, body, DataType.UINT32, a)
        _GXCommon.setData(settings, body, DataType.UINT32, b)
        return bytes(notify.generateDataNotificationMessages(None, body)[0])

    client = GXDLMSClient(True, 0x10, 1, interfaceType=InterfaceType.WRAPPER)

    def decode_get(frame):
        def run():
            reply = GXReplyData()
            client.getData(GXByteBuffer(frame), reply)
            return reply.value
        return run

    def decode_note(frame):
        def run():
            reply = GXReplyData()
            receiver.getData(GXByteBuffer(frame), reply)
            return reply.value
        return run
    return encode_get, encode_note, decode_get, decode_note


def _same_apdu(ours: bytes, theirs: bytes, what: str) -> None:
    """Equal bytes apart from the invoke-id (GET) / date-time presence is not allowed to differ."""
    a, b = bytearray(ours), bytearray(theirs)
    if len(a) != len(b):
        raise RuntimeError(f"{what}: encodings differ in length ({len(a)} vs {len(b)}): not the same data")
    if what == "get-response":
        a[10] = b[10] = 0                              # invoke-id-and-priority byte
    if what == "data-notification":
        a[9:13] = b[9:13] = b"\0\0\0\0"                # long-invoke-id
    if a != b:
        raise RuntimeError(f"{what}: our APDU and gurux's differ: not the same data")


def run(quick: bool) -> list[Figure]:
    n = 40 if quick else 400
    enc_get, enc_note, decode = _ours()
    get_frame, note_frame = enc_get(), enc_note()
    ours = {
        "get-response 48 rows encode": (enc_get, n),
        "get-response 48 rows decode": (decode(get_frame), n),
        "data-notification encode": (enc_note, n * 20),
        "data-notification decode": (decode(note_frame), n * 20),
    }
    figures = []
    try:
        g_enc_get, g_enc_note, g_dec_get, g_dec_note = _gurux()
    except ImportError:
        for name, (fn, count) in ours.items():
            rate = best_rates({name: fn}, count)[name]
            figures.append(Figure(f"sumame {name}", rate, "APDU/s", "gurux-dlms not installed: no ratio"))
        return figures
    _same_apdu(get_frame, g_enc_get(), "get-response")
    _same_apdu(note_frame, g_enc_note(), "data-notification")
    theirs = {
        "get-response 48 rows encode": g_enc_get,
        "get-response 48 rows decode": g_dec_get(get_frame),
        "data-notification encode": g_enc_note,
        "data-notification decode": g_dec_note(note_frame),
    }
    for name, (fn, count) in ours.items():
        rates = best_rates({"ours": fn, "theirs": theirs[name]}, count)
        size = len(get_frame if "get" in name else note_frame)
        figures.append(Figure(f"sumame {name}", rates["ours"], "APDU/s", f"{size} B"))
        figures.append(Figure(f"gurux-dlms {name}", rates["theirs"], "APDU/s"))
        figures.append(Figure(f"ratio {name}", rates["ours"] / rates["theirs"], "x",
                              "sumame / gurux, same run, best of alternating rounds"))
    return figures


BENCHES = [Bench("dlms-codec", run, "DLMS APDU encode/decode rate vs gurux-dlms (48-row profile, push)")]
