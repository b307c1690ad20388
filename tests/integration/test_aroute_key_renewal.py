"""A-route key renewal (class 64 global_key_transfer, AES key wrap): old keys stop at once, the
new ones survive a reboot, a bad wrap changes nothing, and a power cut at any flash operation of
the renewal leaves the old or the new keys working — never neither."""
import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from aroute_helpers import T0, meter, open_session, run, settings
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.client import AssociationRefused
from sumame.firmware.net.dlms.obis import Obis
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.routes.aroute.key_renewal import kek_of
from sumame.firmware.routes.aroute.server import READER_SAP
from sumame.hal.errors import PowerCut
from sumame.tools.hes.session import DlmsRefused
from sumame.tools.emulate.runtime import build_runtime

pytestmark = pytest.mark.lifecycle
SETUP = Obis.parse("0.0.43.0.0.255").to_bytes()
NEW_EK, NEW_AK = bytes(range(16)), bytes(range(16, 32))


def transfer_params(kek, ek=NEW_EK, ak=NEW_AK):
    return axdr.array((axdr.structure(axdr.enum(0), axdr.octet_string(aes_key_wrap(kek, ek))),
                       axdr.structure(axdr.enum(2), axdr.octet_string(aes_key_wrap(kek, ak)))))


def works(rt, tx, ek=None, ak=None) -> bool:
    async def attempt():
        try:
            s = await open_session(rt, settings(rt, tx=tx, ek=ek, ak=ak))
        except (AssociationRefused, TimeoutError, OSError):
            return False
        try:
            await s.get(8, Obis.parse("0.0.1.0.0.255").to_bytes(), 2)
            await s.release()
        except (DlmsRefused, TimeoutError, OSError):
            return False
        return True
    return run(rt, attempt(), limit_s=120)


def renew(rt, tx, kek):
    async def go():
        s = await open_session(rt, settings(rt, tx=tx))
        await s.action(64, SETUP, 2, transfer_params(kek))
        await s.release()
    run(rt, go())


def test_renewed_keys_replace_the_old_ones_at_once_and_survive_a_reboot():
    rt = meter()
    tx, kek = TxCounter(), kek_of(rt.config.identity.serial, {})
    renew(rt, tx, kek)
    assert not works(rt, tx)                                  # old keys refused right away
    assert works(rt, tx, NEW_EK, NEW_AK)
    assert any(e.kind == "key-renewal" for e in rt.meter.events)
    rt.request_reset()
    rt.scheduler.run_for(30)
    assert works(rt, tx, NEW_EK, NEW_AK) and not works(rt, tx)


def test_a_wrong_wrap_or_a_reader_changes_nothing():
    rt = meter()
    tx = TxCounter()

    async def bad():
        s = await open_session(rt, settings(rt, tx=tx))
        with pytest.raises(DlmsRefused):
            await s.action(64, SETUP, 2, transfer_params(bytes(16)))      # not the master key
        await s.release()
        r = await open_session(rt, settings(rt, READER_SAP))
        with pytest.raises(DlmsRefused):
            await r.action(64, SETUP, 2, transfer_params(kek_of(rt.config.identity.serial, {})))
        await r.release()
    run(rt, bad())
    assert works(rt, tx) and not works(rt, tx, NEW_EK, NEW_AK)
    assert any(e.kind == "key-renewal-refused" for e in rt.meter.events)


def reboot_from(rt, at):
    images = {n: rt.built.emulated[n].image() for n in ("flash", "code_flash")}
    rt.close()
    again = build_runtime(rt.board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False)
    for name, data in images.items():
        again.built.emulated[name].load_image(data)
    again.scheduler.power_cut_kills_group = True
    again.boot()
    again.scheduler.run_for(20)
    return again


def test_power_cut_at_every_flash_operation_of_a_renewal():
    probe = meter()
    kek = kek_of(probe.config.identity.serial, {})
    flash = probe.built.emulated["flash"]
    tx = TxCounter()
    before = flash.ops
    renew(probe, tx, kek)
    ops = flash.ops - before
    probe.close()
    assert ops >= 2
    outcomes = set()
    for k in range(1, ops + 1):
        rt = meter()
        tx = TxCounter()
        rt.built.emulated["flash"].cut_power_at(rt.built.emulated["flash"].ops + k, torn=(0.0, 0.5, 0.99)[k % 3])
        try:
            renew(rt, tx, kek)
        except (PowerCut, AssertionError, TimeoutError, OSError, DlmsRefused):
            pass
        again = reboot_from(rt, T0 + 3600)
        tx2 = TxCounter(1000)
        old, new = works(again, tx2), works(again, tx2, NEW_EK, NEW_AK)
        again.close()
        assert old != new, (f"cut at renewal op {k}: old keys {'work' if old else 'fail'}, "
                            f"new keys {'work' if new else 'fail'}")
        outcomes.add("new" if new else "old")
    assert outcomes == {"old", "new"}, outcomes
