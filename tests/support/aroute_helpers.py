"""Test helpers for the A-route: a real meter (build_runtime, virtual time) and clients on its
in-process network, run to completion on the meter's own scheduler."""
from __future__ import annotations

from sumame.firmware.net.dlms.acse import Mechanism
from sumame.firmware.net.dlms.client import ClientSettings
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE, derived_secrets
from sumame.firmware.routes.aroute.server import HES_SAP, PUBLIC_SAP, READER_SAP
from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.links import InProcLink
from sumame.tools.hes.session import DlmsSession
from sumame.tools.emulate.runtime import build_runtime, open_board

T0 = 1775055600.0          # 2026-04-02 00:00 JST


def meter(board: str = "emulated-lv", overrides: dict | None = None, *, start: float = T0,
          poll: float | None = 60.0, settle_s: float = 0.0):
    rt = build_runtime(open_board(board, overrides), virtual=True, start_epoch=start, poll_interval_s=poll)
    rt.scheduler.power_cut_kills_group = True
    if settle_s:
        rt.scheduler.run_for(settle_s)
    return rt


def network(rt):
    return rt.built.hardware.extras["aroute_network"]


def run(rt, coro, limit_s: float = 3600.0):
    """Run ``coro`` as a task on the meter's scheduler until it finishes; returns its result."""
    task = rt.scheduler.spawn(coro, name="test-client", group="test")
    deadline = rt.clock.now() + limit_s
    while not task.done and rt.clock.now() < deadline:
        rt.scheduler.run_for(0.5)
    assert task.done, "client task did not finish"
    if task.exception is not None:
        raise task.exception
    return task.result


def settings(rt, sap: int = HES_SAP, *, password: bytes | None = None, tx: TxCounter | None = None,
             ek: bytes | None = None, ak: bytes | None = None) -> ClientSettings:
    secrets = derived_secrets(rt.config.identity.serial)
    if sap == PUBLIC_SAP:
        return ClientSettings(client_sap=PUBLIC_SAP)
    if sap == READER_SAP:
        return ClientSettings(client_sap=READER_SAP, mechanism=Mechanism.LOW,
                              password=secrets.lls_password if password is None else password)
    return ClientSettings(client_sap=HES_SAP, mechanism=Mechanism.HIGH_GMAC, ciphered=True,
                          system_title=HES_SYSTEM_TITLE, ek=ek or secrets.ek, ak=ak or secrets.ak,
                          tx_counter=tx or TxCounter())


async def open_session(rt, s: ClientSettings, associate: bool = True) -> DlmsSession:
    link = InProcLink(await network(rt).connect(rt.config.identity.serial))
    session = DlmsSession(link, s, timeout_s=20.0)
    if associate:
        await session.associate()
    return session


def head_end(rt, **config) -> HeadEnd:
    """A head-end on the meter's network, meter added and discovered."""
    hes = HeadEnd(rt.scheduler, config=HesConfig(**config), network=network(rt))
    hes.start()
    m = hes.add_meter(f"inproc://{rt.config.identity.serial}")
    for _ in range(1200):
        if m.ready:
            break
        rt.scheduler.run_for(1)
    assert m.ready, "head-end did not discover the meter"
    return hes
