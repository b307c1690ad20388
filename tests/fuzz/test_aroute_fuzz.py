"""Anything from the network reaches the meter's A-route connection and the head-end's push
decoder without an exception escaping; the meter keeps serving (a valid association works after)."""
import pytest
from aroute_helpers import meter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
from sumame.firmware.net.dlms.errors import DlmsError
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.firmware.routes.aroute.keys import derived_secrets
from sumame.tools.hes.engine import HeadEnd, MeterState
from sumame.tools.hes.links import MeterTarget

_rt = None


def app():
    global _rt
    if _rt is None:
        _rt = meter(settle_s=60)
    return next(s for s in _rt.meter.services if s.name == "a-route")


wrapper_like = st.one_of(st.binary(max_size=300),
                         st.builds(lambda src, dst, apdu: WrapperPdu(src, dst, apdu).encode(),
                                   st.integers(0, 0xFFFF), st.sampled_from([1, 2]), st.binary(max_size=200)))


@settings(max_examples=150, deadline=1500, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(wrapper_like, max_size=4), framing=st.sampled_from(["wrapper", "hdlc"]),
       stream=st.booleans())
def test_meter_connection_survives_any_bytes(chunks, framing, stream):
    a = app()
    conn = a.connection("fuzz", framing=framing, stream=stream or framing == "hdlc")
    for chunk in chunks:
        for out in conn.receive(chunk, a.meter.clock.now()):
            assert isinstance(out, bytes)
    conn.close()
    fresh = a.connection("check")
    aarq = WrapperPdu(0x10, 1, DlmsClient(ClientSettings(client_sap=0x10)).aarq()).encode()
    (reply,) = fresh.receive(aarq, a.meter.clock.now())
    assert WrapperPdu.decode(reply).apdu[:1] == b"\x61"
    fresh.close()


@settings(max_examples=200, deadline=1500)
@given(data=wrapper_like)
def test_head_end_push_decoder_rejects_garbage_with_a_typed_error(data):
    a = app()
    hes = HeadEnd(a.meter.scheduler)
    try:
        hes.on_push(data)
    except (DlmsError, ValueError, IndexError, AttributeError, TypeError):
        pass
    assert hes.stats["pushes"] == 0


@pytest.mark.parametrize("flip", [0, 5, 20, -1])
def test_head_end_refuses_a_tampered_ciphered_push(flip):
    a = app()
    hes = HeadEnd(a.meter.scheduler)
    secrets = derived_secrets("SUMAME000001")
    m = MeterState("x", MeterTarget("inproc", "SUMAME000001"), secrets=secrets, serial="SUMAME000001")
    m.columns = {30: []}
    m.push_client = DlmsClient(ClientSettings(ek=secrets.ek, ak=secrets.ak))
    hes.by_title[secrets.system_title] = m
    hes.on_push(WrapperPdu(1, 0x30, a.pusher._apdu(a.pusher.interval)).encode())      # intact: accepted
    assert hes.stats["pushes"] == 1
    apdu = bytearray(a.pusher._apdu(a.pusher.interval))        # a fresh push (new IC), then tampered
    index = 10 + 1 + 5 + flip if flip >= 0 else len(apdu) - 1
    apdu[index] ^= 0x40
    with pytest.raises(DlmsError):
        hes.on_push(WrapperPdu(1, 0x30, bytes(apdu)).encode())
    assert hes.stats["pushes"] == 1
