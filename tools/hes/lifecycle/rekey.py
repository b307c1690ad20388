"""A-route key renewal (and, optionally, the route-B ID/password) from the head-end.

``rekey_meter`` renews one meter, cut-safe on both sides:

1. fresh random EK and AK (and route-B pair) are written to the key store as ``pending``
   (durable) before anything is sent;
2. route-B first (SET 1/0.0.96.60.1.255/2, 32 hex + 12 characters), then the keys: ACTION
   security setup 0.0.43.0.0.255 method 2 ``global_key_transfer`` with each key wrapped
   (RFC 3394) with the meter's master key (KEK), both in ONE association under the old keys;
3. a new association with the new keys proves the meter switched -> the key store commits
   them; one with the old keys must then be refused (reported as ``old_refused``).

When the answer is lost (a cut, a timeout) the head-end does not guess: it tries the new keys,
then the old ones, and keeps whichever the meter accepts (and reads back the route-B ID: a lost
answer to the route-B SET must not make it forget a pair the meter took); if neither answers, both stay in the
key store and the next session retries with the one it is unsure of (engine.resolved_session).
``rekey_fleet`` renews a fleet a share at a time, reporting progress and failures.
"""
from __future__ import annotations

import os
import secrets as _random
import string
from typing import Callable

from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from sumame.firmware.core.scheduler import sleep
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
from sumame.firmware.net.dlms.errors import SecurityError
from sumame.firmware.net.dlms.obis import Obis
from sumame.firmware.routes.aroute.keys import ARouteSecrets

from ..session import DlmsRefused
from .waves import in_waves

SECURITY_SETUP = Obis.parse("0.0.43.0.0.255").to_bytes()
ROUTE_B_CREDENTIALS = Obis.parse("0.0.96.60.1.255").to_bytes()
CLOCK = Obis.parse("0.0.1.0.0.255").to_bytes()
UNICAST_EK, AK = 0, 2


def new_route_b() -> tuple[str, str]:
    """A fresh route-B ID (32 upper-case hex digits) and password (12 letters or digits)."""
    alphabet = string.ascii_letters + string.digits
    return os.urandom(16).hex().upper(), "".join(_random.choice(alphabet) for _ in range(12))


def key_transfer(kek: bytes, ek: bytes, ak: bytes):
    return axdr.array((axdr.structure(axdr.enum(UNICAST_EK), axdr.octet_string(aes_key_wrap(kek, ek))),
                       axdr.structure(axdr.enum(AK), axdr.octet_string(aes_key_wrap(kek, ak)))))


async def _works(hes, m, secrets: ARouteSecrets) -> bool | None:
    """True: the meter accepts ``secrets``; False: it refuses them; None: no answer."""
    m.secrets = secrets
    try:
        async with hes.session(m) as s:
            await s.get(8, CLOCK, 2)
        return True
    except (SecurityError, DlmsRefused):
        return False
    except (OSError, TimeoutError):
        return None


async def _route_b_id(hes, m, secrets: ARouteSecrets) -> str | None:
    """The route-B ID the meter holds (a read gives the ID only); None if it cannot be read."""
    m.secrets = secrets
    try:
        async with hes.session(m) as s:
            value = (await s.get(1, ROUTE_B_CREDENTIALS, 2)).value
        return bytes(value).decode("ascii")
    except (SecurityError, DlmsRefused, OSError, TimeoutError, TypeError, UnicodeDecodeError):
        return None


async def rekey_meter(hes, store, meter_id: str, *, kek: Callable[[str], bytes], route_b: bool = False,
                      progress: Callable[[str, str], None] | None = None, _cut=None) -> dict:
    """{"meter", "serial", "ok", "old_refused", "route_b_id", "detail"}; ``route_b_id`` /
    ``route_b_password`` whenever the meter took a new route-B pair, even if its A-route keys
    stayed (``ok`` False). ``store``: KeyStore;
    ``kek(serial)``: the meter's master key. ``_cut(step)`` (tests): raise to simulate the
    head-end dying after a step."""
    progress = progress or (lambda meter, text: None)
    cut = _cut or (lambda step: None)
    m = hes.meter(meter_id)
    serial, old = m.serial, m.secrets
    result = {"meter": meter_id, "serial": serial, "ok": False, "old_refused": None, "route_b_id": None,
              "detail": ""}
    unsure = store.unresolved_route_b(serial)
    if unsure is not None:              # a route-B pair of an earlier renewal whose answer was lost
        held = await _route_b_id(hes, m, old)
        if held == unsure[0]:
            store.commit_part(serial, "route_b_id", "route_b_password")
            progress(meter_id, f"route-B ID {held[:4]}…{held[-4:]} of the earlier renewal is in force")
        elif held is not None:
            store.abandon(serial)
        m.secrets = old
    new = ARouteSecrets(old.system_title, os.urandom(16), os.urandom(16), old.lls_password)
    pending = {"ek": new.ek.hex(), "ak": new.ak.hex()}
    pair = new_route_b() if route_b else None
    if pair:
        pending.update(route_b_id=pair[0], route_b_password=pair[1])
    store.begin(serial, **pending)
    cut("pending-stored")
    answered = False
    try:
        async with hes.session(m) as s:
            if pair:
                await s.set(1, ROUTE_B_CREDENTIALS, 2, axdr.octet_string((pair[0] + pair[1]).encode("ascii")))
                store.commit_part(serial, "route_b_id", "route_b_password")   # the meter holds them now
                result.update(route_b_id=pair[0], route_b_password=pair[1])   # whatever becomes of the keys
                progress(meter_id, f"route-B ID {pair[0][:4]}…{pair[0][-4:]} and password renewed")
            await s.action(64, SECURITY_SETUP, 2, key_transfer(kek(serial), new.ek, new.ak))
            answered = True
            cut("transfer-answered")
    except DlmsRefused as exc:                       # the meter said no: its keys did not change
        store.abandon(serial)
        m.secrets = old
        result["detail"] = f"refused by the meter: {exc}"
        return result
    except (OSError, TimeoutError, SecurityError) as exc:
        progress(meter_id, f"no answer to the key transfer ({exc or type(exc).__name__}): checking which keys it uses")
    await sleep(1.0)
    verdict = await _works(hes, m, new)
    if verdict is True:
        store.commit(serial)
        cut("committed")
        hes.by_title[new.system_title] = m
        m.push_client = DlmsClient(ClientSettings(ek=new.ek, ak=new.ak))    # pushes come under the new keys
        result.update(ok=True, detail="new keys in force")
        if pair:
            result.update(route_b_id=pair[0], route_b_password=pair[1])
        result["old_refused"] = await _works(hes, m, old) is False
        m.secrets = new
        progress(meter_id, "new A-route keys in force; old keys " +
                 ("refused" if result["old_refused"] else "STILL ACCEPTED"))
        if not result["old_refused"]:
            result.update(ok=False, detail="the meter still accepts the old keys")
        return result
    if verdict is False and await _works(hes, m, old) is True:
        if pair and await _route_b_id(hes, m, old) == pair[0]:    # the SET's answer was lost, not the SET
            store.commit_part(serial, "route_b_id", "route_b_password")
            result.update(route_b_id=pair[0], route_b_password=pair[1])
            progress(meter_id, f"route-B ID {pair[0][:4]}…{pair[0][-4:]} and password renewed")
        store.abandon(serial)
        m.secrets = old
        result["detail"] = "the meter kept its old keys" + ("" if answered else " (transfer not received)")
        return result
    m.secrets = old
    result["detail"] = "meter unreachable: both key pairs kept, the next session finds the one it uses"
    return result


async def rekey_fleet(hes, store, meter_ids: list[str], *, share: float = 0.1,
                      progress: Callable[[str, str], None] | None = None, **kw) -> dict:
    """Renew ``meter_ids`` in waves of ``share`` of the fleet (at least one meter at a time)."""
    results = await in_waves(hes, meter_ids, lambda mid: rekey_meter(hes, store, mid, progress=progress, **kw),
                             share=share, poll_s=0.2, progress=progress or (lambda meter, text: None),
                             done_word="renewed", label="rekey")
    return {"meters": len(meter_ids), "renewed": sum(r["ok"] for r in results),
            "failed": [r for r in results if not r["ok"]], "results": results}
