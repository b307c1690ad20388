"""The A-route on real loopback sockets (the meter on the real clock in a thread, the head-end on
its own real-clock scheduler): TCP and UDP wrapper, pushes to the head-end's listener over TCP
and UDP, and the medium's latency and loss."""
import socket
import time

import pytest
from realtime_meter import T0, recorded_meter

from sumame.firmware.core.clock import RealClock
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.core.scheduler import Scheduler
from sumame.hal.relay import ContactState
from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.store import HesStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealTimeHeadEnd:
    def __init__(self, push_port: int | None = None):
        self.sched = Scheduler(RealClock(), strict=False)
        address = "" if push_port is None else f"127.0.0.1:{push_port}"
        self.hes = HeadEnd(self.sched, HesStore(), HesConfig(push_address=address, timeout_s=5.0))
        self.hes.start()

    def add(self, target, **kw):
        m = self.hes.add_meter(target, since=T0, **kw)
        self.until(lambda: m.ready, 20)
        return m

    def until(self, condition, limit_s=10.0):
        end = time.monotonic() + limit_s
        while not condition():
            assert time.monotonic() < end, "timed out"
            self.sched.run(until=self.sched.clock.now() + 0.02)

    def run(self, coro, limit_s=20.0):
        task = self.sched.spawn(coro, name="test", group="hes")
        self.until(lambda: task.done, limit_s)
        if task.exception is not None:
            raise task.exception
        return task.result

    def close(self):
        self.hes.stop()


@pytest.mark.parametrize("push", ["tcp", "udp"])
def test_head_end_over_tcp_and_udp_polls_commands_and_receives_pushes(tmp_path, push):
    port = free_port()
    with recorded_meter(tmp_path, hours=1, overrides={"aroute": {"push_transport": push,
                                                                 "hes": f"127.0.0.1:{port}"}}) as meter:
        he = RealTimeHeadEnd(push_port=port)
        try:
            tcp = he.add(f"tcp://{meter.tcp[0]}:{meter.tcp[1]}")
            udp = he.add(f"udp://{meter.udp[0]}:{meter.udp[1]}")
            status = he.run(he.hes.poll(tcp.id))
            assert status["state"] == "supplied" and status["forward_total_kwh"] > 0
            assert he.run(he.hes.poll(udp.id))["boot_at"] == status["boot_at"]
            relay = meter.rt.built.emulated["relay"]
            assert he.run(he.hes.command(udp.id, "open"))["ok"] and relay.sensed() is ContactState.OPEN
            assert he.run(he.hes.command(tcp.id, "close"))["ok"] and relay.sensed() is ContactState.CLOSED

            async def push_now():
                async with he.hes.session(tcp) as s:
                    await s.action(40, oc.PUSH_INTERVAL, 1, axdr.integer(0))
            he.run(push_now())
            he.until(lambda: he.hes.stats["pushes"] >= 1)
            rows = he.hes.store.intervals(grid=30)
            assert [r["source"] for r in rows] == ["push", "push"]         # the two latest rows
            assert [r["end_at"] for r in rows] == [T0 + 1800, T0 + 3600]
            assert rows[1]["forward_wh"] is not None and rows[1]["forward_wh"] > 0
        finally:
            he.close()


def test_latency_of_the_medium_delays_every_exchange(tmp_path):
    with recorded_meter(tmp_path, hours=0, overrides={"aroute": {"latency_ms": 150.0}}) as meter:
        he = RealTimeHeadEnd()
        try:
            m = he.add(f"tcp://{meter.tcp[0]}:{meter.tcp[1]}")
            t0 = time.monotonic()
            he.run(he.hes.poll(m.id))
            elapsed = time.monotonic() - t0
        finally:
            he.close()
    # AARQ, HLS pass 3, GET, GET with list, RLRQ: 5 exchanges, each delayed both ways
    assert elapsed >= 5 * 2 * 0.150


def test_udp_loss_of_the_medium_drops_datagrams(tmp_path):
    with recorded_meter(tmp_path, hours=0, overrides={"aroute": {"loss": 0.5, "seed": 7}}) as meter:
        aarq = DlmsClient(ClientSettings(client_sap=0x10)).aarq()
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.1)
            for _ in range(40):
                sock.sendto(WrapperPdu(0x10, 1, aarq).encode(), meter.udp)
                try:
                    reply = WrapperPdu.decode(sock.recvfrom(2000)[0])
                except socket.timeout:
                    continue
                assert reply.apdu[0] == 0x61                                   # an AARE
                answered += 1
        (aroute,) = [svc for svc in meter.meter.services if svc.name == "a-route"]
        lost = aroute.conditions.lost
    assert 0 < answered < 40 and lost > 0
