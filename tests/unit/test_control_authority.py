"""SwitchControl.command, the gate the A-route's DLMS commands pass (issue 9, defect 5): each
check of the gate and of the DLMS binding fails a test when it is disabled."""
import pytest

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.switchgear.control import DLMS_HLS_CIPHERED, Authority, SwitchControl, SwitchOp
from sumame.firmware.core.events import EventLog
from sumame.firmware.net.dlms.acse import Mechanism
from sumame.firmware.net.dlms.association import AssociationPolicy, Protection
from sumame.firmware.net.dlms.cosem.base import CosemError, Level, RequestContext
from sumame.firmware.routes.aroute.control_binding import authority_of, require_control_context
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.relay import ContactState

T0 = 1_750_000_000
A = CommandSource.A_ROUTE
HES = Authority(DLMS_HLS_CIPHERED, "4845530000000001|glo", 10, "client 0x30")


class Rig:
    def __init__(self, store=None, relay=None):
        self.clock = VirtualClock(T0)
        self.events = EventLog(self.clock)
        self.store = store or MemoryStateStore()
        self.relay = relay or EmulatedRelay()
        self.breaker = Breaker(self.relay, self.store, self.events, self.clock,
                               BreakerConfig(limit_a=30, extra_steps_a=(120,)))
        self.breaker.boot()
        self.control = SwitchControl(self.breaker, self.store, self.events, self.clock)

    def security(self):
        return [e.detail for e in self.events if e.kind == "security"]


def at(counter: int, sender: str = HES.sender) -> Authority:
    return Authority(DLMS_HLS_CIPHERED, sender, counter, "client 0x30")


def test_an_authenticated_command_runs_and_is_logged_with_its_proof():
    rig = Rig()
    r = rig.control.command(SwitchOp.OPEN, A, HES, label="DLMS remote_disconnect")
    assert r.executed and rig.relay.contact is ContactState.OPEN
    (op,) = [e for e in rig.events if e.kind == "switch-open"]
    assert "DLMS remote_disconnect by client 0x30 (IC 10)" in op.detail
    assert rig.control.command(SwitchOp.SET_LIMIT, A, at(11), 120).executed and rig.breaker.limit_a == 120


@pytest.mark.parametrize("authority, words", [
    (None, "no authentication"),
    (Authority("dlms-lls", HES.sender, 10), "dlms-lls is not enough"),
    (Authority("", HES.sender, 10), "is not enough"),
])
def test_a_command_without_a_trusted_proof_is_refused(authority, words):
    rig = Rig()
    r = rig.control.command(SwitchOp.OPEN, A, authority)
    assert not r.accepted and words in r.reason
    assert rig.relay.operations == 0 and rig.relay.contact is ContactState.CLOSED
    assert len(rig.security()) == 1


@pytest.mark.parametrize("source", [CommandSource.B_ROUTE, CommandSource.IOT_ROUTE, CommandSource.LOCAL])
def test_a_proven_command_from_another_route_is_refused(source):
    rig = Rig()
    assert not rig.control.command(SwitchOp.OPEN, source, HES).accepted
    assert rig.relay.operations == 0


def test_counters_must_rise_per_sender_and_survive_a_reboot():
    rig = Rig()
    assert rig.control.command(SwitchOp.OPEN, A, at(10)).executed
    for stale in (10, 9, 0):
        r = rig.control.command(SwitchOp.CLOSE, A, at(stale))
        assert not r.accepted and "replayed or stale counter" in r.reason
    assert rig.relay.contact is ContactState.OPEN
    assert rig.control.command(SwitchOp.CLOSE, A, at(5, "4845530000000002|glo")).executed   # other sender
    rebooted = Rig(store=rig.store, relay=rig.relay)
    assert not rebooted.control.command(SwitchOp.OPEN, A, at(10)).accepted
    assert rebooted.relay.contact is ContactState.CLOSED
    assert rebooted.control.command(SwitchOp.OPEN, A, at(11)).executed


def test_argument_must_match_the_operation():
    rig = Rig()
    assert not rig.control.command(SwitchOp.SET_LIMIT, A, at(1), 0).accepted
    assert not rig.control.command(SwitchOp.OPEN, A, at(2), 40).accepted
    assert rig.relay.operations == 0 and rig.breaker.limit_a == 30


# ------------------------------------------------------------------ the DLMS side of the proof
class Session:
    def __init__(self, policy):
        self.association = type("A", (), {"policy": policy})()


HLS_CIPHERED = AssociationPolicy(0x30, Mechanism.HIGH_GMAC, ciphered=True)
HLS_CLEAR = AssociationPolicy(0x30, Mechanism.HIGH_GMAC, ciphered=False)
PROTECTED = {"protection": Protection("glo", 0x30, 77, bytes.fromhex("4845530000000001"))}


@pytest.mark.parametrize("level, policy, extra", [
    (Level.LOW, HLS_CIPHERED, PROTECTED),            # not HLS
    (Level.HIGH, HLS_CLEAR, PROTECTED),              # HLS, but the association is not ciphered
    (Level.HIGH, None, PROTECTED),                   # no policy
])
def test_the_binding_refuses_a_context_without_hls_and_ciphering(level, policy, extra):
    ctx = RequestContext(T0, level, 0x30, Session(policy), dict(extra))
    with pytest.raises(CosemError):
        require_control_context(ctx)
    assert authority_of(ctx) is None


def test_the_binding_derives_the_authority_from_the_protected_request():
    ctx = RequestContext(T0, Level.HIGH, 0x30, Session(HLS_CIPHERED), dict(PROTECTED))
    require_control_context(ctx)
    assert authority_of(ctx) == Authority(DLMS_HLS_CIPHERED, "4845530000000001|glo", 77, "client 0x30")
    assert authority_of(RequestContext(T0, Level.HIGH, 0x30, Session(HLS_CIPHERED))) is None   # clear request
