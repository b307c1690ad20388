"""Interop, issue 9 defect 5: an unmodified gurux-dlms client (GPL, test-only) sends forged and
replayed disconnect ACTIONs to THE REAL METER over TCP (DLMS wrapper); every one is refused and
the emulated latching relay does not move. gurux builds every frame; a forgery is a gurux frame
with bytes changed on the way, a replay is a gurux frame sent again."""
import itertools

import pytest

gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms (test extra) not installed")
from gurux_dlms import GXDLMSClient  # noqa: E402
from gurux_dlms.enums import Authentication, InterfaceType, Security  # noqa: E402
from gurux_dlms.objects import GXDLMSDisconnectControl  # noqa: E402
from gurux_dlms.secure import GXDLMSSecureClient  # noqa: E402
from gurux_dialogue import GuruxDialogue  # noqa: E402
from realtime_meter import recorded_meter  # noqa: E402

from sumame.firmware.net.dlms.apdu import decode_apdu  # noqa: E402
from sumame.firmware.net.dlms.notify import ExceptionResponse, ServiceError  # noqa: E402
from sumame.firmware.net.dlms.wrapper import WrapperPdu  # noqa: E402
from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE, derived_secrets  # noqa: E402
from sumame.hal.relay import ContactState  # noqa: E402

pytestmark = pytest.mark.interop
DC = "0.0.96.3.10.255"
_ic = itertools.count(1000, 1000)       # each gurux client starts above the last one's counters


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    with recorded_meter(tmp_path_factory.mktemp("aroute-gurux-forged"), hours=0) as m:
        yield m


class GuruxOverTcp(GuruxDialogue):
    """gurux builds and parses every frame; we carry the wrapper PDUs over the socket."""

    def __init__(self, address, client):
        import socket
        self.sock = socket.create_connection(address, timeout=10)
        self.cl = client

    def exchange(self, data: bytes) -> bytes:
        self.sock.sendall(data)
        header = self._exact(8)
        return header + self._exact(int.from_bytes(header[6:8], "big"))

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            assert chunk, "the meter closed the connection"
            out += chunk
        return out

    def close(self):
        super().close()
        self.sock.close()


def head_end(meter, *, ek=None, ak=None):
    secrets = derived_secrets(meter.meter.config.identity.serial)
    cl = GXDLMSSecureClient(True, 0x30, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
    c = cl.ciphering
    c.security = Security.AUTHENTICATION_ENCRYPTION
    c.systemTitle = bytearray(HES_SYSTEM_TITLE)
    c.blockCipherKey = bytearray(ek or secrets.ek)
    c.authenticationKey = bytearray(ak or secrets.ak)
    c.invocationCounter = next(_ic)
    return GuruxOverTcp(meter.tcp, cl)


def raw_answer(g, frame: bytes):
    """Send one wrapper frame as is; the meter's APDU (exception-responses are in clear)."""
    return WrapperPdu.decode(g.exchange(frame)).apdu


def disconnect_frame(g) -> bytes:
    (frame,) = GXDLMSDisconnectControl(DC).remoteDisconnect(g.cl)
    return bytes(frame)


def test_gurux_with_wrong_keys_cannot_associate_nor_disconnect(meter):
    relay = meter.rt.built.emulated["relay"]
    g = head_end(meter, ek=bytes(16), ak=bytes(16))
    with pytest.raises(Exception):                                   # gurux reports the refusal
        g.open()
    out = decode_apdu(raw_answer(g, disconnect_frame(g)))
    assert isinstance(out, ExceptionResponse)
    assert relay.sensed() is ContactState.CLOSED
    g.sock.close()


def test_gurux_public_client_may_not_disconnect(meter):
    relay = meter.rt.built.emulated["relay"]
    cl = GXDLMSClient(True, 0x10, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    g = GuruxOverTcp(meter.tcp, cl).open()
    reply = g.xfer(GXDLMSDisconnectControl(DC).remoteDisconnect(g.cl))
    assert reply.error == 3                                          # read-write-denied
    assert relay.sensed() is ContactState.CLOSED
    g.close()


def test_gurux_disconnect_with_a_forged_tag_is_refused(meter):
    relay = meter.rt.built.emulated["relay"]
    g = head_end(meter).open()
    frame = disconnect_frame(g)
    forged = frame[:-1] + bytes((frame[-1] ^ 0x80,))                 # last byte of the GCM tag
    out = decode_apdu(raw_answer(g, forged))
    assert out == ExceptionResponse(1, ServiceError.DECIPHERING_ERROR)
    assert relay.sensed() is ContactState.CLOSED
    g.close()


def test_a_replayed_gurux_disconnect_is_refused_after_a_reconnect(meter):
    relay = meter.rt.built.emulated["relay"]
    g = head_end(meter).open()
    frame = disconnect_frame(g)
    g.cl.getData(gurux.GXByteBuffer(g.exchange(frame)), gurux.GXReplyData())
    assert relay.sensed() is ContactState.OPEN                       # the genuine one ran
    g.xfer(GXDLMSDisconnectControl(DC).remoteReconnect(g.cl))
    assert relay.sensed() is ContactState.CLOSED
    out = decode_apdu(raw_answer(g, frame))                          # the same bytes again
    assert isinstance(out, ExceptionResponse) and out.service_error == ServiceError.INVOCATION_COUNTER_ERROR
    assert relay.sensed() is ContactState.CLOSED
    g.close()
    h = head_end(meter).open()                                       # and in a new association
    out = decode_apdu(raw_answer(h, frame))
    assert isinstance(out, ExceptionResponse) and out.service_error == ServiceError.INVOCATION_COUNTER_ERROR
    assert relay.sensed() is ContactState.CLOSED
    h.close()
