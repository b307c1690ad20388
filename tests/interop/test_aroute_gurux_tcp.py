"""Interop with THE REAL METER: an unmodified gurux-dlms client (GPL, test-only) talks to the
meter booted by build_runtime, over TCP loopback (DLMS wrapper, and HDLC over TCP). The meter
first recorded 3 hours of real interval data in virtual time, then serves on the real clock.

gurux associates (LLS reader, and HLS-GMAC with suite-0 ciphering), reads registers with their
scaler-unit, reads a profile range of the recorded intervals, and disconnects / reconnects the
LV meter: the emulated latching relay really opens and closes."""
import datetime
import socket

import pytest

gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms (test extra) not installed")
from gurux_dlms import GXDLMSClient  # noqa: E402
from gurux_dlms.enums import Authentication, InterfaceType, Security  # noqa: E402
from gurux_dlms.objects import (GXDLMSData, GXDLMSDisconnectControl, GXDLMSProfileGeneric,  # noqa: E402
                                GXDLMSRegister)
from gurux_dlms.secure import GXDLMSSecureClient  # noqa: E402
from gurux_dialogue import GuruxDialogue  # noqa: E402
from realtime_meter import T0, recorded_meter  # noqa: E402

from sumame.firmware.metrology.readings import Quantity  # noqa: E402
from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE, derived_secrets  # noqa: E402
from sumame.firmware.routes.aroute.registers_model import IntervalValues  # noqa: E402
from sumame.firmware.routes.aroute.scaling import energy_scale  # noqa: E402
from sumame.hal.relay import ContactState  # noqa: E402

pytestmark = pytest.mark.interop
JST = datetime.timezone(datetime.timedelta(hours=9))
HOURS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GuruxOverTcp(GuruxDialogue):
    """gurux builds and parses every frame; we only carry the bytes over the socket."""

    def __init__(self, address, client, hdlc=False):
        self.sock = socket.create_connection(address, timeout=10)
        self.cl, self.hdlc = client, hdlc

    def _read_frame(self) -> bytes:
        if self.hdlc:      # no byte stuffing in IEC 62056-46: the format field gives the length
            head = self._exact(3)
            return head + self._exact(((head[1] & 0x07) << 8 | head[2]) + 2 - 3)
        header = self._exact(8)
        return header + self._exact(int.from_bytes(header[6:8], "big"))

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            assert chunk, "the meter closed the connection"
            out += chunk
        return out

    def exchange(self, data: bytes) -> bytes:
        self.sock.sendall(data)
        return self._read_frame()

    def close(self):
        super().close()
        self.sock.close()


def reader(meter, hdlc=False):
    secrets = derived_secrets(meter.meter.config.identity.serial)
    if hdlc:
        cl = GXDLMSClient(True, 0x20, GXDLMSClient.getServerAddress(1, 0x11), Authentication.LOW,
                          secrets.lls_password.decode(), InterfaceType.HDLC)
        return GuruxOverTcp(meter.hdlc, cl, hdlc=True)
    cl = GXDLMSClient(True, 0x20, 1, Authentication.LOW, secrets.lls_password.decode(), InterfaceType.WRAPPER)
    return GuruxOverTcp(meter.tcp, cl)


def head_end_client(meter):
    secrets = derived_secrets(meter.meter.config.identity.serial)
    cl = GXDLMSSecureClient(True, 0x30, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
    c = cl.ciphering
    c.security = Security.AUTHENTICATION_ENCRYPTION
    c.systemTitle = bytearray(HES_SYSTEM_TITLE)
    c.blockCipherKey = bytearray(secrets.ek)
    c.authenticationKey = bytearray(secrets.ak)
    return GuruxOverTcp(meter.tcp, cl)


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    with recorded_meter(tmp_path_factory.mktemp("aroute-gurux"), hours=HOURS,
                        overrides={"aroute": {"hdlc_port": free_port()}}) as m:
        yield m


def check_register_and_profile(g, meter):
    readings = meter.meter.readings
    reg = GXDLMSRegister("1.0.1.8.0.255")
    g.read(reg, 3)
    before = readings.cumulative_now(Quantity.FORWARD)
    g.read(reg, 2)
    after = readings.cumulative_now(Quantity.FORWARD)
    assert (reg.scaler, int(reg.unit)) == (10.0, 30)                 # x10 Wh (gurux shows 10**scaler)
    assert before * 10 <= reg.value <= after * 10 and reg.value > 0  # gurux applied the scaler: Wh
    volt = GXDLMSRegister("1.0.32.7.0.255")
    g.read(volt, 3)
    g.read(volt, 2)
    assert int(volt.unit) == 35 and 80 <= volt.value <= 120          # V, scaler -1 applied
    sp = GXDLMSData("0.0.96.1.1.255")
    value = g.read(sp, 2)
    assert (value if isinstance(value, str) else bytes(value).decode()) == meter.meter.config.identity.supply_point
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    g.read(pg, 3)
    assert [str(c[0].logicalName) for c in pg.captureObjects] == [
        "0.0.1.0.0.255", "1.0.1.29.0.255", "1.0.2.29.0.255", "1.0.1.8.0.255", "1.0.2.8.0.255"]
    first = datetime.datetime.fromtimestamp(T0 + 3600, JST)
    g.cl.updateValue(pg, 2, g.xfer(g.cl.readRowsByRange(pg, first, first + datetime.timedelta(hours=2))).value)
    times = [row[0].value.timestamp() for row in pg.buffer]
    assert times == [T0 + 3600 + 1800 * k for k in range(5)]
    values = IntervalValues(readings, energy_scale(meter.meter.config.scaling))
    assert [row[1] for row in pg.buffer] == [values.energy(Quantity.FORWARD, t, 30) for t in times]
    assert [row[3] for row in pg.buffer] == [values.cumulative(Quantity.FORWARD, t) for t in times]
    assert all(v is not None and v >= 0 for row in pg.buffer for v in row[1:])


def test_gurux_reads_registers_and_a_profile_range_over_tcp_wrapper(meter):
    g = reader(meter).open()
    check_register_and_profile(g, meter)
    objects = g.cl.parseObjects(g.xfer(g.cl.getObjectsRequest()).data, False)     # also manufacturer classes
    found = {(int(o.objectType), o.logicalName) for o in objects}
    for expected in [(8, "0.0.1.0.0.255"), (70, "0.0.96.3.10.255"), (71, "0.0.17.0.0.255"), (7, "1.0.99.2.1.255"),
                     (7, "1.0.99.97.0.255"), (40, "0.0.25.9.0.255"), (1, "0.0.96.1.1.255")]:
        assert expected in found
    (aroute,) = [svc for svc in meter.meter.services if svc.name == "a-route"]
    assert len(objects) == len(aroute.server.objects)
    g.close()


def test_gurux_over_hdlc_on_tcp_and_malformed_frames_are_dropped_and_logged(meter):
    with socket.create_connection(meter.hdlc, timeout=5) as raw:
        raw.sendall(bytes.fromhex("7EA00802232193BD657E"))           # SNRM with a broken FCS
        raw.settimeout(0.5)
        with pytest.raises(socket.timeout):
            raw.recv(100)                                           # dropped: no answer
    logged = [e for e in meter.meter.events if e.kind == "dlms-bad-input" and "hdlc" in e.detail]
    assert logged and logged[-1].source == "a-route"
    g = reader(meter, hdlc=True).open()
    check_register_and_profile(g, meter)
    g.close()


def test_gurux_disconnects_and_reconnects_the_real_breaker(meter):
    relay = meter.rt.built.emulated["relay"]
    g = head_end_client(meter).open()
    dc = GXDLMSDisconnectControl("0.0.96.3.10.255")
    g.xfer(dc.remoteDisconnect(g.cl))
    assert relay.sensed() is ContactState.OPEN
    g.read(dc, 2)
    assert dc.outputState is False
    g.xfer(dc.remoteReconnect(g.cl))
    assert relay.sensed() is ContactState.CLOSED
    g.read(dc, 2)
    assert dc.outputState is True
    g.close()
    ops = [e for e in meter.meter.events if e.kind in ("switch-open", "switch-close")]
    assert [e.source for e in ops[-2:]] == ["a-route", "a-route"]


def test_gurux_lls_client_may_not_disconnect(meter):
    relay = meter.rt.built.emulated["relay"]
    g = reader(meter).open()
    reply = g.xfer(GXDLMSDisconnectControl("0.0.96.3.10.255").remoteDisconnect(g.cl))
    assert reply.error == 3                                         # read-write-denied
    assert relay.sensed() is ContactState.CLOSED
    g.close()
