"""Fuzz the ECHONET Lite codec: any bytes give a Frame or an EchonetError, nothing else."""
from hypothesis import given, settings
from hypothesis import strategies as st

from sumame.firmware.net import echonet as el

byte = st.integers(0, 255)
eojs = st.builds(el.Eoj, byte, byte, byte)
props = st.builds(el.Property, byte, st.binary(max_size=40))
frames = st.builds(
    lambda tid, s, d, esv, p, g: el.Frame(tid, s, d, esv, tuple(p), tuple(g) if esv.is_setget else ()),
    st.integers(0, 0xFFFF), eojs, eojs, st.sampled_from(list(el.Esv)),
    st.lists(props, max_size=8), st.lists(props, max_size=8))


def _decode_or_typed_error(raw: bytes):
    try:
        return el.decode(raw)
    except el.EchonetError as exc:
        assert str(exc)
        return exc


@settings(max_examples=400, deadline=1500)
@given(st.binary(max_size=80))
def test_random_bytes_give_a_frame_or_a_typed_error(raw):
    result = _decode_or_typed_error(raw)
    if isinstance(result, el.Frame):
        assert el.encode(result) == raw


@settings(max_examples=300, deadline=1500)
@given(st.binary(min_size=10, max_size=60))
def test_bytes_behind_a_valid_header_give_a_frame_or_a_typed_error(tail):
    # The interesting part of the space: EHD1/EHD2 right, the rest arbitrary.
    _decode_or_typed_error(b"\x10\x81" + tail)


@settings(max_examples=300, deadline=1500)
@given(frames)
def test_frames_round_trip(frame):
    assert el.decode(el.encode(frame)) == frame


@settings(max_examples=200, deadline=1500)
@given(frames, st.data())
def test_mutated_frames_never_escape(frame, data):
    raw = bytearray(el.encode(frame))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if action == "flip" and raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(byte)
        elif action == "cut" and raw:
            del raw[data.draw(st.integers(0, len(raw) - 1)):]
        else:
            raw += data.draw(st.binary(min_size=1, max_size=4))
    _decode_or_typed_error(bytes(raw))


@settings(max_examples=300, deadline=1500)
@given(st.sets(st.integers(0x80, 0xFF)))
def test_property_maps_round_trip(epcs):
    edt = el.encode_property_map(epcs)
    assert len(edt) == (17 if len(epcs) >= 16 else len(epcs) + 1)
    assert el.decode_property_map(edt) == sorted(epcs)


@settings(max_examples=300, deadline=1500)
@given(st.binary(max_size=20))
def test_property_map_decoder_never_escapes(edt):
    try:
        el.decode_property_map(edt)
    except el.BadPropertyMap:
        pass
