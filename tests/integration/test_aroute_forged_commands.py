"""Issue 9, defect 5: forged and replayed disconnect ACTIONs (class 70 remote_disconnect) sent
to the real meter's A-route are refused and leave the relay untouched; the genuine command
goes through ``SwitchControl.command`` (the one gate to the breaker)."""
import pytest
from aroute_helpers import meter, network, open_session, run, settings

from sumame.firmware.switchgear.breaker import BreakerMode
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.client import AssociationRefused, ClientSettings, DlmsClient
from sumame.firmware.net.dlms.descriptors import DataAccessResult as DAR
from sumame.firmware.net.dlms.notify import ExceptionResponse, ServiceError
from sumame.firmware.net.dlms.errors import SecurityError
from sumame.firmware.net.dlms.security import SC_AUTH_ENC, TxCounter, cipher_apdu
from sumame.firmware.net.dlms.xdlms import ActionResponseNormal
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE
from sumame.firmware.routes.aroute.server import HES_SAP, PUBLIC_SAP, READER_SAP
from sumame.hal.relay import ContactState
from sumame.tools.hes.session import DlmsRefused

WRONG = bytes(range(100, 116))


def plain_disconnect(sap: int = HES_SAP) -> bytes:
    """The unprotected ACTION-request remote_disconnect(integer 0)."""
    return DlmsClient(ClientSettings(client_sap=sap)).action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0))


def disconnected(rt) -> bool:
    return rt.meter.switchgear.breaker.mode is not BreakerMode.CLOSED


def untouched(rt, relay, strokes: int) -> bool:
    return relay.sensed() is ContactState.CLOSED and relay.operations == strokes and not disconnected(rt)


def answer(s, raw: bytes):
    """Decode the meter's answer: exception-responses are in clear, the rest ciphered."""
    if raw[:1] == b"\xD8":
        return decode_apdu(raw)
    return s.client.receive(raw).response


@pytest.fixture
def rig():
    rt = meter(settle_s=60)
    relay = rt.built.emulated["relay"]
    return rt, relay, relay.operations


def test_public_and_lls_associations_cannot_disconnect(rig):
    rt, relay, strokes = rig

    async def go():
        codes = []
        for sap in (PUBLIC_SAP, READER_SAP):
            s = await open_session(rt, settings(rt, sap))
            with pytest.raises(DlmsRefused) as refused:
                await s.action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0))
            codes.append(refused.value.code)
            await s.release()
        return codes
    assert run(rt, go()) == [DAR.READ_WRITE_DENIED, DAR.READ_WRITE_DENIED]
    assert untouched(rt, relay, strokes)


def test_wrong_keys_get_no_association_and_no_disconnect(rig):
    rt, relay, strokes = rig

    async def go():
        with pytest.raises((AssociationRefused, SecurityError)):      # AARQ or HLS pass 3 fails
            await open_session(rt, settings(rt, ek=WRONG, ak=WRONG))
        conn = await network(rt).connect(rt.config.identity.serial)   # and no association at all:
        s = await open_session(rt, settings(rt), associate=False)
        forged = cipher_apdu(plain_disconnect(), sc=SC_AUTH_ENC, system_title=HES_SYSTEM_TITLE,
                             invocation_counter=10**6, ek=WRONG, ak=WRONG)
        out = decode_apdu(await s._exchange(forged))
        conn.close()
        return out
    out = run(rt, go())
    assert isinstance(out, ExceptionResponse)
    assert untouched(rt, relay, strokes)
    assert [e for e in rt.meter.events if e.kind in ("dlms-auth-failure", "dlms-decipher-failure")]


def test_hls_pending_association_cannot_disconnect(rig):
    rt, relay, strokes = rig

    async def go():
        s = await open_session(rt, settings(rt), associate=False)
        s.client.parse_aare(await s._exchange(s.client.aarq()))       # pass 1-2 only, no f(StoC)
        assert s.client.hls_pending
        raw = await s._exchange(s.client.action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0)))
        return decode_apdu(raw if raw[:1] == b"\xD8" else s.client._decipher(raw))
    out = run(rt, go())
    assert isinstance(out, ActionResponseNormal) and out.result == DAR.READ_WRITE_DENIED
    assert untouched(rt, relay, strokes)


def test_forged_tag_wrong_key_and_clear_text_actions_are_refused_in_a_good_association(rig):
    rt, relay, strokes = rig

    async def go():
        s = await open_session(rt, settings(rt))
        good = s.client.action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0))
        outs = [decode_apdu(await s._exchange(good[:-1] + bytes((good[-1] ^ 0x01,))))]     # bad tag
        outs.append(decode_apdu(await s._exchange(cipher_apdu(                              # wrong keys
            plain_disconnect(), sc=SC_AUTH_ENC, system_title=HES_SYSTEM_TITLE,
            invocation_counter=s.client.s.tx_counter.next(), ek=WRONG, ak=WRONG))))
        outs.append(decode_apdu(await s._exchange(plain_disconnect())))                     # clear text
        still = await s.get(70, oc.DISCONNECT_CONTROL, 2)                                   # association lives
        await s.release()
        return outs, still
    (bad_tag, bad_key, clear), still = run(rt, go())
    assert bad_tag == ExceptionResponse(1, ServiceError.DECIPHERING_ERROR)
    assert bad_key == ExceptionResponse(1, ServiceError.DECIPHERING_ERROR)
    assert isinstance(clear, ExceptionResponse) and clear.service_error == ServiceError.OPERATION_NOT_POSSIBLE
    assert still.value is True and untouched(rt, relay, strokes)
    assert len([e for e in rt.meter.events if e.kind == "dlms-decipher-failure"]) == 2


def test_a_recorded_disconnect_cannot_be_replayed_in_the_session_after_a_reconnect_or_a_reboot(rig):
    rt, relay, strokes = rig
    recorded, tx = [], TxCounter()

    async def genuine():
        s = await open_session(rt, settings(rt, tx=tx))
        recorded.append(s.client.action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0)))
        opened = answer(s, await s._exchange(recorded[0]))
        assert opened.result == DAR.SUCCESS and disconnected(rt)
        await s.action(70, oc.DISCONNECT_CONTROL, 2, axdr.integer(0))                       # reconnect
        assert not disconnected(rt)
        replay = decode_apdu(await s._exchange(recorded[0]))
        await s.release()
        return replay
    replay = run(rt, genuine())
    assert isinstance(replay, ExceptionResponse) and replay.service_error == ServiceError.INVOCATION_COUNTER_ERROR
    strokes = relay.operations
    assert untouched(rt, relay, strokes)

    rt.mains.schedule_outage(rt.clock.now() + 1, 60)
    rt.scheduler.run_for(180)
    assert rt.extras["power"].reboots == 1

    async def after_reboot():
        s = await open_session(rt, settings(rt, tx=tx))            # a new, genuine association
        out = decode_apdu(await s._exchange(recorded[0]))
        await s.release()
        return out
    out = run(rt, after_reboot())
    assert isinstance(out, ExceptionResponse) and out.service_error == ServiceError.INVOCATION_COUNTER_ERROR
    assert untouched(rt, relay, strokes)
    assert [e.kind for e in rt.meter.events].count("dlms-replay") == 2


def test_switch_control_refuses_a_replayed_command_even_when_the_association_guard_forgot_it(rig):
    """Defence in depth: the association's replay guard loses its memory (e.g. its store was
    unreadable); SwitchControl's own per-sender command counter still refuses the replay."""
    rt, relay, strokes = rig
    recorded = []
    (aroute,) = [svc for svc in rt.meter.services if svc.name == "a-route"]

    async def go():
        s = await open_session(rt, settings(rt))
        recorded.append(s.client.action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0)))
        assert answer(s, await s._exchange(recorded[0])).result == DAR.SUCCESS
        await s.action(70, oc.DISCONNECT_CONTROL, 2, axdr.integer(0))
        aroute.server.security.replay_guard._last.clear()           # the guard forgot everything
        replay = answer(s, await s._exchange(recorded[0]))
        await s.release()
        return replay
    replay = run(rt, go())
    assert isinstance(replay, ActionResponseNormal) and replay.result == DAR.READ_WRITE_DENIED
    assert relay.sensed() is ContactState.CLOSED and not disconnected(rt)
    security = [e.detail for e in rt.meter.events if e.kind == "security"]
    assert any("replayed or stale counter" in d for d in security)
