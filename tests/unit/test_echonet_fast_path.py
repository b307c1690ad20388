"""The ECHONET Lite codec's fast paths (issue 15 point 7) give exactly what the checked paths
give: the same Frame, or the same error (class, message, readable header) for any bytes; the
same bytes, or the same error, for any frame - odd Python values included."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import Eoj, Esv, Frame, Property

byte = st.integers(0, 255)
eojs = st.builds(Eoj, byte, byte, byte)
props = st.builds(Property, byte, st.one_of(st.just(b""), st.binary(max_size=12)))
frames = st.builds(
    lambda tid, s, d, esv, p, g: Frame(tid, s, d, esv, tuple(p), tuple(g) if esv.is_setget else ()),
    st.integers(0, 0xFFFF), eojs, eojs, st.sampled_from(list(Esv)),
    st.lists(props, max_size=6), st.lists(props, max_size=3))


def decoded(fn, raw):
    try:
        return fn(raw)
    except el.EchonetError as exc:
        return type(exc), str(exc), exc.header


def encoded(fn, frame):
    try:
        raw = fn(frame)
        return type(raw), raw
    except Exception as exc:  # noqa: BLE001 - both paths must fail alike, whatever the error
        return type(exc), str(exc)


def mutate(raw: bytes, edits) -> bytes:
    b = bytearray(raw)
    for pos, val, op in edits:
        if not b:
            break
        i = pos % len(b)
        if op == 0:
            b[i] = val
        elif op == 1:
            del b[i:]
        else:
            b.insert(i, val)
    return bytes(b)


@settings(max_examples=400, deadline=None)
@given(frames, st.lists(st.tuples(st.integers(0, 200), byte, st.integers(0, 2)), max_size=3))
def test_decode_fast_path_equals_the_checked_path(frame, edits):
    raw = mutate(el.encode(frame), edits)
    assert decoded(el.decode, raw) == decoded(el._decode_checked, raw)


@settings(max_examples=300, deadline=None)
@given(frames)
def test_encode_fast_path_equals_the_checked_path(frame):
    assert encoded(el.encode, frame) == encoded(el._encode_checked, frame)
    assert el.decode(el.encode(frame)) == frame


ODD = [
    Frame(0x10000, el.CONTROLLER, el.NODE_PROFILE, Esv.GET),
    Frame(-1, el.CONTROLLER, el.NODE_PROFILE, Esv.GET),
    Frame(True, el.CONTROLLER, el.NODE_PROFILE, Esv.GET),
    Frame(1.0, el.CONTROLLER, el.NODE_PROFILE, Esv.GET),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, bytes(256)),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, b"a"), Property(0x80, bytes(256)))),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x181, b"a"),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, b"a"), Property(-1, b""))),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, bytearray(b"ab")),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, memoryview(b"ab")),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, "ab"),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, b"a"), Property(0x82, "ab"))),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.GET, tuple(Property(0x80) for _ in range(256))),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.GET, (), (Property(0x80),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETGET, (Property(0x80, b"\x30"),), (Property(0x81),)),
    Frame(1, Eoj(0x105, 0xFF, 1), el.NODE_PROFILE, Esv.GET),
    Frame(1, (5, 0xFF, 1, 9), el.NODE_PROFILE, Esv.GET),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, 0x99, (Property(0xE7),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, [0x62], (Property(0xE7),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.GET, ((0xE7, b"", 1),)),
    Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.GET, ((0xE7, b""), (0xE8, b"", 1))),
]


@pytest.mark.parametrize("frame", ODD, ids=range(len(ODD)))
def test_odd_frames_fail_or_encode_exactly_like_the_checked_path(frame):
    assert encoded(el.encode, frame) == encoded(el._encode_checked, frame)


@pytest.mark.parametrize("raw", [
    "1081000105ff01028801620100", "1081000105ff0102880162010001", "1081000105ff01028801620101e7",
    "1081000105ff0102880172", "1081000105ff010288017201e701", "1081000105ff010288017201e70100",
    "1081000105ff010288017201e70100ff", "1081000105ff010288017201e700ff", "1081000105ff010288017202e700e800ff",
    "1081000105ff010288016202e700", "1081000105ff010288016202e700e8", "1081000105ff010288016202e701aa",
    "1081000105ff010288016200", "1081000105ff01028801620000", "1081000105ff01028801ff00",
    "1081000105ff010288016e01e70000", "1082000105ff0102880162", "1181000105ff0102880162"])
def test_edge_frames_decode_exactly_like_the_checked_path(raw):
    data = bytes.fromhex(raw)
    assert decoded(el.decode, data) == decoded(el._decode_checked, data)
    assert decoded(el.decode, bytearray(data)) == decoded(el._decode_checked, data)


def _learnt(raw: bytes) -> None:
    """Decode a frame twice so its header's property layout is learnt (the struct fast path)."""
    el.decode(raw)
    el.decode(raw)
    key = raw[4:12]
    assert el._LAYOUTS[key][-1] == len(raw), "the layout was not learnt"


RES = el.encode(Frame(7, el.Eoj.of(0x028801), el.CONTROLLER, Esv.GET_RES, (
    Property(0xE7, b"\x00\x00\x04\xd2"), Property(0xE8, b"\x00\x7b"), Property(0xE1, b"\x01"))))


def test_learnt_layout_rejects_other_pdcs_of_the_same_length():
    """Same header, same total length, other PDC split: the learnt layout must not be used."""
    head = RES[:12]
    for pdcs in [(2, 4, 1), (1, 2, 4), (7, 0, 0), (0, 0, 7), (0, 7, 0), (3, 3, 1)]:
        body = b"".join(bytes((0xE7 + i, n)) + bytes(range(n)) for i, n in enumerate(pdcs))
        raw = head + body
        assert len(raw) == len(RES)
        _learnt(RES)
        assert decoded(el.decode, raw) == decoded(el._decode_checked, raw)
        assert el.decode(raw).props == tuple(Property(0xE7 + i, bytes(range(n))) for i, n in enumerate(pdcs))


@pytest.mark.parametrize("pos", range(len(RES)))
def test_learnt_layout_every_byte_and_every_length(pos):
    """With the layout learnt: any byte changed (to 0, 1, PDC-ish and 0xFF) and the frame cut at
    or grown after this offset give exactly what the checked path gives (frame or error)."""
    variants = [RES[:pos], RES[:pos] + b"\x00" + RES[pos:]]
    for value in (0, 1, 2, 4, 5, 0xFF, RES[pos] ^ 1):
        variants.append(RES[:pos] + bytes((value,)) + RES[pos + 1:])
    for raw in variants:
        _learnt(RES)
        assert decoded(el.decode, raw) == decoded(el._decode_checked, raw), raw.hex()
