"""COSEM server behaviour through our client codec, in process (no transport)."""
import pytest

from dlms_fake_meter import (AK, CLIENT_TITLE, EK, HLS_PLAIN_SAP, HLS_SAP, LLS_SAP, PASSWORD, PERIOD, PUBLIC_SAP,
                             START, SUPPLY_POINT, FakeMeter, forward_at)
from sumame.firmware.net.dlms import axdr, obis
from sumame.firmware.net.dlms.acse import Aare, Aarq, Mechanism
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.client import AssociationRefused, ClientSettings, DlmsClient
from sumame.firmware.net.dlms.cosem.control import ControlState
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets
from sumame.firmware.net.dlms.descriptors import DataAccessResult as DAR
from sumame.firmware.net.dlms.descriptors import SelectiveAccess
from sumame.firmware.net.dlms.initiate import ConfirmedServiceError, InitiateRequest
from sumame.firmware.net.dlms.notify import DataNotification, ExceptionResponse
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.net.dlms.xdlms import GetRequestNext, GetResponseNormal

CLOCK_COL = axdr.structure(axdr.long_unsigned(8), axdr.octet_string(obis.CLOCK), axdr.integer(2), axdr.long_unsigned(0))
FWD_COL = axdr.structure(axdr.long_unsigned(3), axdr.octet_string(obis.ACTIVE_ENERGY_IMPORT), axdr.integer(2),
                         axdr.long_unsigned(0))


class Conn:
    """Our client talking to the fake meter's server through one session."""

    def __init__(self, meter, settings):
        self.meter = meter
        self.session = meter.server.open_session(settings.client_sap)
        self.client = DlmsClient(settings)

    def raw(self, request: bytes) -> bytes:
        return self.session.handle(request, self.meter.now)

    def ask(self, request: bytes):
        reply = self.client.receive(self.raw(request))
        while reply.next_request is not None:
            reply = self.client.receive(self.raw(reply.next_request))
        return reply.response

    def associate(self):
        self.client.parse_aare(self.raw(self.client.aarq()))
        if self.client.hls_pending:
            self.ask(self.client.hls_reply())
        return self

    def get(self, class_id, ln, attr, access=None):
        return self.ask(self.client.get(class_id, ln, attr, access)).result


def public(meter, **kw):
    return Conn(meter, ClientSettings(client_sap=PUBLIC_SAP, **kw)).associate()


def hls(meter, ciphered=True, **kw):
    return Conn(meter, ClientSettings(client_sap=HLS_SAP if ciphered else HLS_PLAIN_SAP,
                                      mechanism=Mechanism.HIGH_GMAC, ciphered=ciphered,
                                      system_title=CLIENT_TITLE, ek=EK, ak=AK, **kw)).associate()


@pytest.fixture
def meter():
    return FakeMeter()


def test_public_reads_registers_identity_and_clock(meter):
    c = public(meter)
    assert c.get(3, obis.ACTIVE_ENERGY_IMPORT, 2) == axdr.double_long_unsigned(forward_at(meter.now))
    assert c.get(3, obis.ACTIVE_ENERGY_IMPORT, 3) == axdr.structure(axdr.integer(1), axdr.enum(30))
    assert c.get(3, obis.L1_VOLTAGE, 3) == axdr.structure(axdr.integer(-1), axdr.enum(35))
    assert c.get(3, obis.ACTIVE_POWER_IMPORT, 2) == axdr.null()          # no data is never 0
    assert c.get(1, obis.SUPPLY_POINT_NUMBER, 2) == axdr.visible_string(SUPPLY_POINT)
    assert c.get(8, obis.CLOCK, 2) == axdr.octet_string(epoch_to_octets(meter.now))
    assert c.get(8, obis.CLOCK, 3) == axdr.long(-540)


def test_get_refusals_are_data_access_results(meter):
    c = public(meter)
    assert c.get(3, obis.obis("1.0.99.99.0.255"), 2) == DAR.OBJECT_UNDEFINED
    assert c.get(1, obis.ACTIVE_ENERGY_IMPORT, 2) == DAR.OBJECT_CLASS_INCONSISTENT
    assert c.get(3, obis.ACTIVE_ENERGY_IMPORT, 9) == DAR.OBJECT_UNDEFINED
    assert c.get(15, obis.CURRENT_ASSOCIATION, 7) == DAR.READ_WRITE_DENIED      # the secret
    results = c.ask(c.client.get_with_list([(3, obis.ACTIVE_ENERGY_IMPORT, 2), (3, obis.obis("9.9.9.9.9.9"), 2)])).results
    assert results == (axdr.double_long_unsigned(forward_at(meter.now)), DAR.OBJECT_UNDEFINED)
    assert c.get(3, obis.L1_CURRENT, 2) == axdr.long_unsigned(153)              # the association survived
    assert meter.server.counters["refused"] == 5


def test_public_cannot_act_or_write(meter):
    c = public(meter)
    assert c.ask(c.client.action(70, obis.DISCONNECT_CONTROL, 1, axdr.integer(0))).result == DAR.READ_WRITE_DENIED
    assert meter.breaker.state is ControlState.CONNECTED
    assert c.ask(c.client.set(8, obis.CLOCK, 2, axdr.octet_string(epoch_to_octets(START)))).result == DAR.READ_WRITE_DENIED
    assert meter.set_times == []


def test_lls_password(meter):
    bad = Conn(meter, ClientSettings(client_sap=LLS_SAP, mechanism=Mechanism.LOW, password=b"wrong"))
    aare = Aare.decode(bad.raw(bad.client.aarq()))
    assert (aare.result, aare.diagnostic) == (1, 13)            # rejected-permanent, authentication-failure
    assert meter.events and meter.events[0][0] == "dlms_auth_failure"
    assert isinstance(decode_apdu(bad.raw(bad.client.get(8, obis.CLOCK, 2))), ExceptionResponse)
    good = Conn(meter, ClientSettings(client_sap=LLS_SAP, mechanism=Mechanism.LOW, password=PASSWORD)).associate()
    assert good.get(8, obis.CLOCK, 4) == axdr.unsigned(0)
    # push setup is allowed from LOW: its DataNotification carries the push objects
    assert good.ask(good.client.action(40, obis.PUSH_SETUP_INTERVAL, 1, axdr.integer(0))).result == DAR.SUCCESS
    note = decode_apdu(meter.pushed[-1])
    assert isinstance(note, DataNotification)
    assert axdr.to_python(note.body) == ["SM0000000001", forward_at(meter.now)]


@pytest.mark.parametrize("sap,aarq,diag", [
    (LLS_SAP, Aarq(1, InitiateRequest(0x1F).encode()), 12),                       # mechanism required
    (PUBLIC_SAP, Aarq(1, InitiateRequest(0x1F).encode(), mechanism=1, authentication_value=b"x"), 11),
    (PUBLIC_SAP, Aarq(2, InitiateRequest(0x1F).encode()), 2),                     # SN context
    (0x66, Aarq(1, InitiateRequest(0x1F).encode()), 1),                           # unknown client SAP
    (HLS_SAP, Aarq(3, b"\x21\x05\x30\x00\x00\x00\x01", mechanism=5, authentication_value=b"c" * 16,
                   calling_ap_title=None), 3),                                    # no system title
])
def test_aarq_refusals(meter, sap, aarq, diag):
    aare = Aare.decode(meter.server.open_session(sap).handle(aarq.encode(), meter.now))
    assert (aare.result, aare.diagnostic) == (1, diag)


@pytest.mark.parametrize("initiate,error", [(InitiateRequest(0x1F, dlms_version=5), 1),
                                            (InitiateRequest(0x1F, max_receive_pdu_size=8), 3),
                                            (InitiateRequest(0x400000), 2)])
def test_initiate_errors(meter, initiate, error):
    aare = Aare.decode(meter.server.open_session(PUBLIC_SAP).handle(Aarq(1, initiate.encode()).encode(), meter.now))
    assert aare.result == 1 and ConfirmedServiceError.decode(aare.user_information) == ConfirmedServiceError(1, 6, error)


def test_hls_ciphered_controls_breaker_clock_and_limit(meter):
    c = hls(meter)
    assert c.client.associated and meter.server.counters["aarq"] == 1
    assert c.ask(c.client.action(70, obis.DISCONNECT_CONTROL, 1, axdr.integer(0))).result == DAR.SUCCESS
    assert meter.breaker.state is ControlState.DISCONNECTED and c.get(70, obis.DISCONNECT_CONTROL, 2) == axdr.boolean(False)
    assert c.ask(c.client.action(70, obis.DISCONNECT_CONTROL, 2, axdr.integer(0))).result == DAR.SUCCESS
    assert meter.breaker.state is ControlState.CONNECTED
    assert c.ask(c.client.set(8, obis.CLOCK, 2, axdr.octet_string(epoch_to_octets(START)))).result == DAR.SUCCESS
    assert meter.set_times == [START]
    assert c.ask(c.client.set(71, obis.LIMITER, 4, axdr.long_unsigned(400))).result == DAR.SUCCESS
    assert meter.limit == 400 and c.get(71, obis.LIMITER, 3) == axdr.long_unsigned(400)
    assert c.ask(c.client.set(71, obis.LIMITER, 4, axdr.long_unsigned(5))).result == DAR.TEMPORARY_FAILURE
    assert c.ask(c.client.set(71, obis.LIMITER, 4, axdr.unsigned(5))).result == DAR.TYPE_UNMATCHED
    assert meter.limit == 400


def test_breaker_refusal_becomes_action_result(meter):
    meter.breaker.mode = 0
    c = hls(meter, ciphered=False)
    assert c.ask(c.client.action(70, obis.DISCONNECT_CONTROL, 1, axdr.integer(0))).result == DAR.READ_WRITE_DENIED
    assert meter.breaker.state is ControlState.CONNECTED


def test_replayed_and_forged_requests_are_rejected_and_association_survives(meter):
    c = hls(meter)
    request = c.client.get(3, obis.ACTIVE_ENERGY_IMPORT, 2)
    assert isinstance(c.ask(request), GetResponseNormal)
    replay = c.client.receive(c.raw(request)).response
    assert replay.service_error == 6 and replay.invocation_counter == c.client.s.tx_counter.value + 1
    forged = bytearray(c.client.get(3, obis.ACTIVE_ENERGY_IMPORT, 2))
    forged[-1] ^= 0x01
    assert c.client.receive(c.raw(bytes(forged))).response.service_error == 5
    plain = c.client.s.ciphered = False
    assert c.client.receive(c.raw(c.client.get(8, obis.CLOCK, 2))).response.service_error == 1
    c.client.s.ciphered = True
    assert c.get(3, obis.ACTIVE_ENERGY_IMPORT, 2) == axdr.double_long_unsigned(forward_at(meter.now))
    kinds = [k for k, _ in meter.events]
    assert kinds == ["dlms_replay", "dlms_decipher_failure"] and plain is False


def test_hls_wrong_reply_drops_association(meter):
    c = Conn(meter, ClientSettings(client_sap=HLS_PLAIN_SAP, mechanism=Mechanism.HIGH_GMAC,
                                   system_title=CLIENT_TITLE, ek=EK, ak=bytes(16)))   # wrong AK
    c.client.parse_aare(c.raw(c.client.aarq()))
    assert c.client.hls_pending
    assert c.get(3, obis.ACTIVE_ENERGY_IMPORT, 2) == DAR.READ_WRITE_DENIED         # pending: nothing else
    with pytest.raises(Exception, match="refused our HLS"):
        c.ask(c.client.hls_reply())
    assert isinstance(decode_apdu(c.raw(c.client.get(8, obis.CLOCK, 2))), ExceptionResponse)
    assert meter.events[-1][0] == "dlms_auth_failure"


def test_release_ends_association(meter):
    c = public(meter)
    assert c.raw(c.client.release()).hex() == "6303800100"
    assert isinstance(decode_apdu(c.raw(c.client.get(8, obis.CLOCK, 2))), ExceptionResponse)


def expected_rows(first_boundary, n):
    return [[epoch_to_octets(t), forward_at(t), 5000 + int((t - START) // PERIOD) * 3]
            for t in (first_boundary + k * PERIOD for k in range(n))]


def test_profile_block_transfer_small_pdu(meter):
    c = public(meter, max_receive_pdu=256)
    rows = axdr.to_python(c.get(7, obis.LOAD_PROFILE_1, 2))
    n = int((meter.now - START) // PERIOD) + 1
    assert rows == expected_rows(START, n) and meter.server.counters["long_get"] == 1
    assert axdr.to_python(c.get(7, obis.LOAD_PROFILE_1, 7)) == n
    # block-number errors
    c.client.get(7, obis.LOAD_PROFILE_1, 2)
    first = c.client.receive(c.raw(c.client.get(7, obis.LOAD_PROFILE_1, 2)))
    assert first.next_request is not None
    bad = decode_apdu(c.raw(GetRequestNext(5).encode()))
    assert bad.raw == DAR.DATA_BLOCK_NUMBER_INVALID and bad.last_block
    assert decode_apdu(c.raw(GetRequestNext(1).encode())).raw == DAR.NO_LONG_GET_IN_PROGRESS


def range_access(start, end, columns=()):
    return SelectiveAccess(1, axdr.structure(CLOCK_COL, axdr.octet_string(epoch_to_octets(start)),
                                             axdr.octet_string(epoch_to_octets(end)), axdr.array(columns)))


def entry_access(first, last, col_from=1, col_to=0):
    return SelectiveAccess(2, axdr.structure(axdr.double_long_unsigned(first), axdr.double_long_unsigned(last),
                                             axdr.long_unsigned(col_from), axdr.long_unsigned(col_to)))


def test_profile_selective_access(meter):
    c = public(meter)
    pg = (7, obis.LOAD_PROFILE_1, 2)
    day2 = START + 86400
    assert axdr.to_python(c.get(*pg, range_access(day2, day2 + 3600))) == expected_rows(day2, 3)
    assert axdr.to_python(c.get(*pg, range_access(day2 + 1, day2 + 1799))) == []            # inclusive bounds
    assert axdr.to_python(c.get(*pg, range_access(day2, day2 + 1800, [FWD_COL]))) == [[forward_at(day2)],
                                                                                      [forward_at(day2 + 1800)]]
    assert axdr.to_python(c.get(*pg, range_access(START - 86400, START))) == expected_rows(START, 1)
    assert axdr.to_python(c.get(*pg, entry_access(2, 3))) == expected_rows(START + PERIOD, 2)
    assert axdr.to_python(c.get(*pg, entry_access(1, 2, 2, 2))) == [[forward_at(START)], [forward_at(START + PERIOD)]]
    assert axdr.to_python(c.get(*pg, entry_access(10**6, 0))) == []
    # out-of-range or malformed selectors
    assert c.get(*pg, entry_access(1, 2, 3, 9)) == DAR.OTHER_REASON
    assert c.get(*pg, entry_access(5, 2)) == DAR.OTHER_REASON
    assert c.get(*pg, SelectiveAccess(2, axdr.structure(axdr.unsigned(1)))) == DAR.TYPE_UNMATCHED
    assert c.get(*pg, SelectiveAccess(1, axdr.structure(FWD_COL, axdr.double_long_unsigned(0),
                                                        axdr.double_long_unsigned(1), axdr.array(())))) == DAR.OTHER_REASON
    assert c.get(*pg, SelectiveAccess(9, axdr.null())) == DAR.OTHER_REASON
    assert c.get(3, obis.ACTIVE_ENERGY_IMPORT, 2, entry_access(1, 2)) == DAR.OTHER_REASON


def test_association_object_list_reflects_level(meter):
    pub = public(meter)
    objects = axdr.to_python(pub.get(15, obis.CURRENT_ASSOCIATION, 2))
    by_ln = {bytes(o[2]): o for o in objects}
    assert len(objects) == len(meter.server.objects)
    dc = by_ln[obis.DISCONNECT_CONTROL]
    assert dc[0] == 70 and dc[3][1] == [[1, 0], [2, 0]]           # no method access for public
    high = hls(meter)
    dc = {bytes(o[2]): o for o in axdr.to_python(high.get(15, obis.CURRENT_ASSOCIATION, 2))}[obis.DISCONNECT_CONTROL]
    assert dc[3][1] == [[1, 1], [2, 1]]
    assert high.get(15, obis.CURRENT_ASSOCIATION, 8) == axdr.enum(2)


def test_server_tx_counter_advances_and_client_rejects_replayed_response(meter):
    c = hls(meter)
    before = meter.tx_counter.value
    response = c.raw(c.client.get(8, obis.CLOCK, 2))
    assert meter.tx_counter.value == before + 1
    c.client.receive(response)
    with pytest.raises(Exception, match="invocation counter"):
        c.client.receive(response)


def test_garbage_apdus_get_exception_responses(meter):
    c = public(meter)
    for raw in [b"\xC0\x01", b"\xC0\x07\xC1", b"\x99\x01", b"\xC1\x01\xC1" + bytes(9)]:
        assert isinstance(decode_apdu(c.raw(raw)), ExceptionResponse)
    assert c.raw(b"") is None
    assert c.get(8, obis.CLOCK, 3) == axdr.long(-540)


def test_dedicated_key_ciphering(meter):
    key = bytes(range(0x20, 0x30))
    c = hls(meter, dedicated_key=key)
    request = c.client.get(3, obis.ACTIVE_ENERGY_IMPORT, 2)
    assert request[0] == 0xD0                                    # ded-get-request
    raw = c.raw(request)
    assert raw[0] == 0xD4                                        # ded-get-response, dedicated key
    assert c.client.receive(raw).response.result == axdr.double_long_unsigned(forward_at(meter.now))
    other = Conn(meter, ClientSettings(client_sap=HLS_SAP, mechanism=Mechanism.HIGH_GMAC, ciphered=True,
                                       system_title=CLIENT_TITLE, ek=EK, ak=AK, tx_counter=TxCounter(500))).associate()
    reply = other.client.receive(other.raw(bytes([0xD0]) + request[1:])).response
    assert reply.service_error == 5                              # no dedicated key in that association


def test_extended_register_and_clock_attributes():
    from sumame.firmware.net.dlms.cosem.base import RequestContext
    from sumame.firmware.net.dlms.cosem.clock import Clock
    from sumame.firmware.net.dlms.cosem.registers import ExtendedRegister, Unit
    reg = ExtendedRegister("1.0.1.6.0.255", lambda: 4200, scaler=0, unit=Unit.W, status_fn=lambda: 0x80,
                           capture_time_fn=lambda: START)
    ctx = RequestContext(START + 60)
    assert [reg.get(a, ctx) for a in (2, 3, 4, 5)] == [
        axdr.double_long_unsigned(4200), axdr.structure(axdr.integer(0), axdr.enum(27)), axdr.unsigned(0x80),
        axdr.octet_string(epoch_to_octets(START))]
    clock = Clock(status_fn=lambda: 0x02)
    assert clock.get(2, ctx).value[-1] == 0x02 and clock.get(8, ctx) == axdr.boolean(False)
    assert clock.get(9, ctx) == axdr.enum(1)


def test_ciphered_push_reaches_the_head_end(meter):
    from sumame.firmware.net.dlms.cosem.base import RequestContext
    from sumame.firmware.net.dlms.security import TxCounter as _Tx  # noqa: F401
    push = meter.objects[-1]
    protected = meter.server.protect_notification(push.notification(RequestContext(meter.now)).encode())
    assert protected[0] == 0xDB
    head_end = DlmsClient(ClientSettings(ek=EK, ak=AK))
    note = head_end.parse_notification(protected)
    assert isinstance(note, DataNotification) and axdr.to_python(note.body)[1] == forward_at(meter.now)
    with pytest.raises(Exception, match="invocation counter"):
        head_end.parse_notification(protected)                   # a replayed push is refused
