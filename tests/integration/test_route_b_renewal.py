"""Route-B ID/password renewal from the head-end: stored as one record, the Wi-SUN B-route
restarts with the new pair at once, kept across a reboot; the password is never read back;
only a ciphered HLS association may write it."""
import pytest

from aroute_helpers import meter, open_session, run, settings
from sumame.firmware.lifecycle.credentials import route_b_credentials
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.obis import Obis
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.routes.aroute.server import READER_SAP
from sumame.firmware.routes.broute import wiring as broute_wiring
from sumame.tools.hes.session import DlmsRefused

pytestmark = pytest.mark.lifecycle
LN = Obis.parse("0.0.96.60.1.255").to_bytes()
NEW_ID, NEW_PW = "0123456789ABCDEF0123456789ABCDEF", "NewPassw0rd1"


class RecordingWisun:
    made = []

    def __init__(self, *args, rbid, password, **kw):
        RecordingWisun.made.append((rbid, password))
        self.stopped = False

    def start(self):
        pass

    def stop(self):
        self.stopped = True


def test_head_end_renews_route_b_credentials(monkeypatch):
    monkeypatch.setattr(broute_wiring, "WisunBRoute", RecordingWisun)
    RecordingWisun.made = []
    rt = meter()
    app = next(s for s in rt.meter.services if s.name == "b-route")
    app.wisun_factory = object()
    app._wisun_up(None)
    board_pair = (rt.config.identity.route_b_id, rt.board["identity"]["route_b_password"])
    assert RecordingWisun.made == [board_pair]
    tx = TxCounter()

    async def renew():
        s = await open_session(rt, settings(rt, tx=tx))
        await s.set(1, LN, 2, axdr.octet_string((NEW_ID + NEW_PW).encode()))
        with pytest.raises(DlmsRefused):
            await s.set(1, LN, 2, axdr.octet_string(b"x" * 44))
        read = (await s.get(1, LN, 2)).value
        await s.release()
        return read
    assert run(rt, renew()) == NEW_ID.encode()           # the ID, never the password
    assert RecordingWisun.made[-1] == (NEW_ID, NEW_PW)    # restarted with the new pair at once
    assert any(e.kind == "route-b-credentials" for e in rt.meter.events)
    rt.request_reset()
    rt.scheduler.run_for(10)
    assert route_b_credentials(rt.meter) == (NEW_ID, NEW_PW)


def test_reader_cannot_renew():
    rt = meter()

    async def attempt():
        s = await open_session(rt, settings(rt, READER_SAP))
        with pytest.raises(DlmsRefused):
            await s.set(1, LN, 2, axdr.octet_string((NEW_ID + NEW_PW).encode()))
        await s.release()
    run(rt, attempt())
    assert route_b_credentials(rt.meter)[0] == rt.config.identity.route_b_id
