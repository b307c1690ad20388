"""Head-end key renewal, independent review (issue #12 point 5): the answer to the route-B SET
is lost although the meter applied the new pair (a timeout, a cut link) -> the head-end must
find out which pair the meter holds instead of forgetting the one it sent; and the other way
round (the SET never reached the meter) it keeps the old pair."""
import json

import pytest

from aroute_helpers import meter, network, run
from sumame.firmware.lifecycle.credentials import route_b_credentials
from sumame.firmware.routes.aroute.key_renewal import kek_of
from sumame.firmware.routes.aroute.keys import derived_secrets
from sumame.tools.aroute_credentials import write_keys_file
from sumame.tools.hes import session as session_mod
from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.keystore import KeyStore
from sumame.tools.hes.lifecycle.rekey import rekey_meter

pytestmark = pytest.mark.lifecycle


def key_file(tmp_path, rt):
    serial = rt.config.identity.serial
    return write_keys_file(tmp_path, serial, derived_secrets(serial), kek_of(serial, {}))


def hes_for(rt, path, db=None):
    """A head-end on the key file ``path``; ``db``: the database (invocation counters) of an
    earlier head-end run."""
    store = KeyStore([path])
    hes = HeadEnd(rt.scheduler, db, config=HesConfig(keys=store.current, alternate_keys=store.pending,
                                                 keys_confirmed=store.confirm), network=network(rt))
    hes.start()
    m = hes.add_meter(f"inproc://{rt.config.identity.serial}")
    for _ in range(600):
        if m.ready or m.failure:
            break
        rt.scheduler.run_for(1)
    assert m.ready, m.failure
    return hes, store


@pytest.mark.parametrize("applied", [True, False], ids=["meter-applied-it", "never-arrived"])
def test_route_b_set_answer_lost(tmp_path, monkeypatch, applied):
    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    before = route_b_credentials(rt.meter)
    real_set = session_mod.DlmsSession.set
    lost = []

    async def answer_lost(self, *a, **kw):
        if not lost:
            lost.append(1)
            if applied:
                await real_set(self, *a, **kw)
            raise TimeoutError("no answer to the SET")
        return await real_set(self, *a, **kw)
    monkeypatch.setattr(session_mod.DlmsSession, "set", answer_lost)
    result = run(rt, rekey_meter(hes, store, next(iter(hes.meters)), kek=store.kek, route_b=True))
    monkeypatch.undo()
    in_meter = route_b_credentials(rt.meter)
    assert (in_meter != before) is applied
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    held = (saved.get("route_b_id", before[0]), saved.get("route_b_password", before[1]))  # none: the board's
    assert held == in_meter, result
    assert "pending" not in saved or "route_b_id" not in saved["pending"]
    if applied:
        assert result.get("route_b_id") == in_meter[0], result     # printed for the customer's QR


def test_rekey_in_the_middle_of_a_firmware_transfer(tmp_path):
    """The transfer's association (old keys) is refused once the keys changed; the head-end
    resumes the transfer with the new keys (missing blocks only), the new image boots, and the
    renewed keys (not the old ones) still open the meter after the update's reset."""
    from lifecycle_helpers import signed_image
    from sumame.firmware.net.dlms import axdr
    from sumame.tools.hes.lifecycle.rekey import _works
    from sumame.tools.hes.session import DlmsRefused
    from sumame.tools.hes.lifecycle.update import IMAGE_TRANSFER, identifier_of, update_meter
    from sumame.firmware.net.dlms.errors import SecurityError
    from sumame.tools.hes.links import InProcLink
    from sumame.tools.hes.session import DlmsSession

    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    mid = next(iter(hes.meters))
    m = hes.meter(mid)
    old = m.secrets
    image = signed_image(build_id="during-rekey")

    def block(n):
        return axdr.structure(axdr.double_long_unsigned(n), axdr.octet_string(image[n * 512:(n + 1) * 512]))

    async def go():
        # the transfer's association: the head-end's settings (old keys, its invocation counter)
        # on a link of its own, so that the renewal's association can run beside it
        link = InProcLink(await network(rt).connect(rt.config.identity.serial))
        s = DlmsSession(link, hes._settings(m), timeout_s=20)
        await s.associate()
        await s.action(18, IMAGE_TRANSFER, 1, axdr.structure(axdr.octet_string(identifier_of(image)),
                                                              axdr.double_long_unsigned(len(image))))
        for n in range(3):
            await s.action(18, IMAGE_TRANSFER, 2, block(n))
        renewal = await rekey_meter(hes, store, mid, kek=store.kek)     # a second association
        try:
            await s.action(18, IMAGE_TRANSFER, 2, block(3))
            refused = False
        except (DlmsRefused, SecurityError, TimeoutError):
            refused = True
        link.close()
        return renewal, refused
    renewal, refused = run(rt, go())
    assert renewal["ok"] and renewal["old_refused"], renewal
    assert refused, "the transfer's old-key association still worked after the renewal"
    new = store.current(rt.config.identity.serial)
    assert (new.ek, new.ak) != (old.ek, old.ak) and (m.secrets.ek, m.secrets.ak) == (new.ek, new.ak)
    result = run(rt, update_meter(hes, mid, image))
    assert result["ok"] and result["sent"] == result["blocks"] - 3, result
    assert rt.meter.lifecycle.running.header.build_id == "during-rekey"
    assert run(rt, _works(hes, m, new)) is True and run(rt, _works(hes, m, old)) is False


def test_a_replayed_key_transfer_changes_nothing(tmp_path):
    """Every frame the head-end sent for a renewal, replayed byte for byte on a new connection
    (an attacker on the path), and the key-transfer frame replayed again on the renewal's own
    connection: refused, the meter stays on the renewed keys (generation 1)."""
    from sumame.firmware.routes.aroute.key_renewal import stored_keys
    from sumame.tools.hes.links import InProcLink
    from sumame.tools.hes.lifecycle.rekey import _works

    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    mid = next(iter(hes.meters))
    m = hes.meter(mid)
    old = m.secrets
    frames = []
    real_send = InProcLink.send

    def recording(self, data):
        frames.append(bytes(data))
        if len(frames) == 3:            # AARQ, reply_to_HLS, then the key transfer: duplicated in transit
            real_send(self, data)
        return real_send(self, data)
    InProcLink.send = recording
    try:
        assert run(rt, rekey_meter(hes, store, mid, kek=store.kek))["ok"]
    finally:
        InProcLink.send = real_send
    new = store.current(rt.config.identity.serial)
    assert stored_keys(rt.meter.storage)[0] == 1 and len(frames) >= 4
    events = len(list(rt.meter.events))

    async def replay():
        answers = []
        link = InProcLink(await network(rt).connect(rt.config.identity.serial))
        for frame in frames:
            link.send(frame)
            try:
                answers.append(await link.recv(5))
            except (TimeoutError, OSError):
                answers.append(None)
        link.close()
        return answers
    run(rt, replay())
    rt.scheduler.run_for(5)
    assert stored_keys(rt.meter.storage)[0] == 1                       # no second renewal
    assert not any(e.kind == "key-renewal" for e in list(rt.meter.events)[events:])
    assert run(rt, _works(hes, m, new)) is True and run(rt, _works(hes, m, old)) is False


def test_route_b_pair_taken_but_key_transfer_refused_is_reported(tmp_path):
    """A wrong master key: the meter takes the route-B pair, refuses the key transfer. The result
    must still carry the new pair (the CLI prints it for the customer's QR code)."""
    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    result = run(rt, rekey_meter(hes, store, next(iter(hes.meters)), kek=lambda serial: bytes(16), route_b=True))
    assert not result["ok"] and "refused" in result["detail"], result
    in_meter = route_b_credentials(rt.meter)
    assert (result.get("route_b_id"), result.get("route_b_password")) == in_meter, result
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    assert (saved["route_b_id"], saved["route_b_password"]) == in_meter


def test_route_b_pair_survives_a_lost_answer_then_an_unreachable_meter(tmp_path, monkeypatch):
    """The SET's answer is lost (the meter took the pair) and the meter stops answering: the
    head-end keeps everything pending. Its next session works with the current A-route keys;
    that must not throw away the route-B pair the meter now uses."""
    from sumame.tools.hes.lifecycle import rekey as rekey_mod

    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    real_set = session_mod.DlmsSession.set

    async def answer_lost(self, *a, **kw):
        await real_set(self, *a, **kw)
        raise TimeoutError("no answer to the SET")

    async def unreachable(*a, **kw):
        return None
    monkeypatch.setattr(session_mod.DlmsSession, "set", answer_lost)
    monkeypatch.setattr(rekey_mod, "_works", unreachable)
    result = run(rt, rekey_meter(hes, store, next(iter(hes.meters)), kek=store.kek, route_b=True))
    monkeypatch.undo()
    assert not result["ok"] and "unreachable" in result["detail"], result
    hes.stop()
    in_meter = route_b_credentials(rt.meter)
    again, store2 = hes_for(rt, path, hes.store)            # the next head-end session
    assert run(rt, again.poll(next(iter(again.meters))))["state"]
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    held = (saved.get("route_b_id"), saved.get("route_b_password"))
    pending = saved.get("pending", {})
    assert in_meter in (held, (pending.get("route_b_id"), pending.get("route_b_password"))), saved

    # the next renewal settles it: it reads the meter's route-B ID and makes that pair current
    assert KeyStore([path]).unresolved_route_b(rt.config.identity.serial) == in_meter
    result = run(rt, rekey_meter(again, store2, next(iter(again.meters)), kek=store2.kek))
    assert result["ok"], result
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    assert (saved["route_b_id"], saved["route_b_password"]) == in_meter and "pending" not in saved


def test_an_association_with_a_dedicated_key_ends_with_the_keys_it_was_made_under():
    """A client associated under the old keys with a dedicated key (ded-ciphering) must not go
    on after the global keys were renewed — here the EK alone, as class 64 allows: its
    dedicated key was delivered under the old EK. Glo-ciphered associations already fail."""
    import os as _os
    from dataclasses import replace

    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    from aroute_helpers import open_session, settings
    from sumame.firmware.core.scheduler import sleep
    from sumame.firmware.net.dlms import axdr
    from sumame.firmware.net.dlms.errors import SecurityError
    from sumame.firmware.net.dlms.obis import Obis
    from sumame.firmware.net.dlms.security import TxCounter
    from sumame.tools.hes.session import DlmsRefused

    rt = meter()
    tx, kek = TxCounter(), kek_of(rt.config.identity.serial, {})
    clock = Obis.parse("0.0.1.0.0.255").to_bytes()

    async def go():
        ded = await open_session(rt, replace(settings(rt, tx=tx), dedicated_key=_os.urandom(16)))
        await ded.get(8, clock, 2)
        renewing = await open_session(rt, settings(rt, tx=tx))
        await renewing.action(64, Obis.parse("0.0.43.0.0.255").to_bytes(), 2, axdr.array((
            axdr.structure(axdr.enum(0), axdr.octet_string(aes_key_wrap(kek, _os.urandom(16)))),)))
        await sleep(1)
        try:
            await ded.get(8, clock, 2)
            return False
        except (DlmsRefused, SecurityError, TimeoutError):
            return True
    assert run(rt, go()), "the dedicated-key association opened under the old EK still works"
