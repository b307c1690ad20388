"""Head-end key renewal (tools/hes/lifecycle/rekey.py) against the real meter in virtual time: the new keys
land in the head-end's key store and the meter, the old ones are refused at once, a fresh
head-end reading the key file uses the new ones; a cut at any point of the renewal, on the
head-end's side or at any flash operation of the meter, leaves both sides on the old or on the
new keys (a head-end unsure of them retries with the pending pair), never neither."""
import json

import pytest

from sumame.firmware.net.echonet import Eoj
from aroute_helpers import T0, meter, network, run
from sumame.firmware.lifecycle.credentials import route_b_credentials
from sumame.firmware.routes.aroute.keys import derived_secrets
from sumame.firmware.routes.aroute.key_renewal import kek_of
from sumame.hal.errors import PowerCut
from sumame.tools.aroute_credentials import write_keys_file
from sumame.tools.emulate.runtime import build_runtime
from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.keystore import KeyStore
from sumame.tools.hes.db.store import HesStore
from sumame.tools.hes.lifecycle.rekey import _works, rekey_meter

pytestmark = pytest.mark.lifecycle


def key_file(tmp_path, rt):
    serial = rt.config.identity.serial
    return write_keys_file(tmp_path, serial, derived_secrets(serial), kek_of(serial, {}))


def hes_for(rt, path, db=None):
    """A head-end reading the key file ``path``; ``db``: its database (invocation counters) of
    an earlier run — a new head-end process on the same database."""
    store = KeyStore([path])
    hes = HeadEnd(rt.scheduler, db or HesStore(), HesConfig(keys=store.current, alternate_keys=store.pending,
                                                            keys_confirmed=store.confirm), network=network(rt))
    hes.start()
    m = hes.add_meter(f"inproc://{rt.config.identity.serial}")
    for _ in range(600):
        if m.ready or m.failure:
            break
        rt.scheduler.run_for(1)
    assert m.ready, f"head-end did not discover the meter: {m.failure}"
    return hes, store


def rekey(rt, hes, store, **kw):
    mid = next(iter(hes.meters))
    return run(rt, rekey_meter(hes, store, mid, kek=store.kek, **kw))


def accepts(rt, hes, secrets) -> bool:
    m = next(iter(hes.meters.values()))
    return run(rt, _works(hes, m, secrets)) is True


def test_rekey_stores_the_new_keys_old_ones_refused_next_session_uses_new(tmp_path):
    rt = meter()
    path = key_file(tmp_path, rt)
    old = derived_secrets(rt.config.identity.serial)
    hes, store = hes_for(rt, path)
    result = rekey(rt, hes, store)
    assert result["ok"] and result["old_refused"], result
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    assert "pending" not in saved and bytes.fromhex(saved["ek"]) != old.ek
    new = KeyStore([path]).current(rt.config.identity.serial)
    assert new.ek == bytes.fromhex(saved["ek"]) and new.ak == bytes.fromhex(saved["ak"])
    assert not accepts(rt, hes, old) and accepts(rt, hes, new)
    hes.stop()
    again, _ = hes_for(rt, path, hes.store)                     # the next head-end session: from the key file
    assert run(rt, again.poll(next(iter(again.meters))))["state"]
    assert any(e.kind == "key-renewal" for e in rt.meter.events)


def test_rekey_with_route_b_renews_the_pair_and_c0(tmp_path):
    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    before = route_b_credentials(rt.meter)
    result = rekey(rt, hes, store, route_b=True)
    assert result["ok"], result
    now = route_b_credentials(rt.meter)
    assert now != before and now == (result["route_b_id"], result["route_b_password"])
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    assert (saved["route_b_id"], saved["route_b_password"]) == now
    node = next(s for s in rt.meter.services if s.name == "b-route").service.node
    c0 = node.find(Eoj(0x02, 0x88, 0x01))[0].get(0xC0)         # ECHONET Lite: Route B identification number
    assert c0[4:] == bytes.fromhex(now[0])[-12:] and c0[4:] != bytes.fromhex(before[0])[-12:]


class HeadEndCut(Exception):
    pass


def test_route_b_pair_is_kept_by_the_head_end_even_if_the_key_transfer_never_happens(tmp_path):
    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)
    mid = next(iter(hes.meters))
    real_action = None

    async def go():
        nonlocal real_action
        from sumame.tools.hes import session as session_mod
        real_action = session_mod.DlmsSession.action

        async def dies(self, *a, **kw):           # the head-end dies right before the key transfer
            raise HeadEndCut("before the key transfer")
        session_mod.DlmsSession.action = dies
        try:
            await rekey_meter(hes, store, mid, kek=store.kek, route_b=True)
        finally:
            session_mod.DlmsSession.action = real_action
    with pytest.raises(HeadEndCut):
        run(rt, go())
    saved = json.loads(path.read_text())[rt.config.identity.serial]
    assert (saved["route_b_id"], saved["route_b_password"]) == route_b_credentials(rt.meter)
    hes.stop()
    again, store2 = hes_for(rt, path, hes.store)       # old A-route keys still in force on both sides
    assert store2.pending(rt.config.identity.serial) is None
    assert accepts(rt, again, derived_secrets(rt.config.identity.serial))


@pytest.mark.parametrize("step", ["pending-stored", "transfer-answered", "committed"])
def test_head_end_cut_at_each_step_leaves_keys_that_work(tmp_path, step):
    rt = meter()
    path = key_file(tmp_path, rt)
    hes, store = hes_for(rt, path)

    def cut(at):
        if at == step:
            raise HeadEndCut(at)
    with pytest.raises(HeadEndCut):
        rekey(rt, hes, store, _cut=cut)
    hes.stop()
    again, store2 = hes_for(rt, path, hes.store)                # a new head-end process, the file as the cut left it
    assert run(rt, again.poll(next(iter(again.meters))))["state"]
    serial = rt.config.identity.serial
    assert store2.pending(serial) is None             # resolved: the keys that worked are current
    assert accepts(rt, again, store2.current(serial))


def reboot(rt, at):
    images = {n: rt.built.emulated[n].image() for n in ("flash", "code_flash")}
    rt.close()
    again = build_runtime(rt.board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False)
    for name, data in images.items():
        again.built.emulated[name].load_image(data)
    again.scheduler.power_cut_kills_group = True
    again.boot()
    again.scheduler.run_for(20)
    return again


def test_meter_cut_at_every_flash_operation_of_a_rekey(tmp_path):
    probe = meter()
    (tmp_path / "probe").mkdir()
    path = key_file(tmp_path / "probe", probe)
    hes, store = hes_for(probe, path)
    flash = probe.built.emulated["flash"]
    before = flash.ops
    assert rekey(probe, hes, store)["ok"]
    ops = flash.ops - before
    probe.close()
    assert ops >= 2
    outcomes = set()
    for k in range(1, ops + 1):
        d = tmp_path / f"cut{k}"
        d.mkdir()
        rt = meter()
        path = key_file(d, rt)
        old = derived_secrets(rt.config.identity.serial)
        hes, store = hes_for(rt, path)
        rt.built.emulated["flash"].cut_power_at(rt.built.emulated["flash"].ops + k, torn=(0.0, 0.5, 0.99)[k % 3])
        try:
            rekey(rt, hes, store)
        except (PowerCut, AssertionError):
            pass
        again = reboot(rt, T0 + 3600)
        hes2, store2 = hes_for(again, path, hes.store)          # must discover: with old or pending keys
        serial = again.config.identity.serial
        in_force = store2.current(serial)
        assert store2.pending(serial) is None, f"cut {k}: unresolved"
        assert accepts(again, hes2, in_force), f"cut {k}: the head-end's keys do not work"
        outcomes.add("old" if in_force.ek == old.ek else "new")
        again.close()
    assert outcomes == {"old", "new"}, outcomes
