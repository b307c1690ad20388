"""Test-only COSEM data model: fixed registers, a generated 30-min profile, a breaker fake.

Stands in for the real binding (MeterReadings + breaker) that the lead wires in
firmware/routes/aroute. Values are chosen so tests can compute what to expect.
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr, obis
from sumame.firmware.net.dlms.acse import Mechanism
from sumame.firmware.net.dlms.association import AssociationPolicy, SecuritySetup
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.clock import Clock
from sumame.firmware.net.dlms.cosem.control import DisconnectControl, DisconnectStateMachine, Limiter
from sumame.firmware.net.dlms.cosem.profile import CaptureObject, PeriodicProfileSource, ProfileGeneric
from sumame.firmware.net.dlms.cosem.push import PushSetup
from sumame.firmware.net.dlms.cosem.registers import DataObject, Register, Unit
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.net.dlms.server import CosemServer

START = 1743433200.0          # 2025-04-01 00:00 JST (epoch s)
PERIOD = 1800
PASSWORD = b"12345678"
EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
SERVER_TITLE = bytes.fromhex("4D4D4D0000000001")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000BC614E")
SUPPLY_POINT = "0300111234567890123456"
DEVICE_ID = "SM0000000001"

PUBLIC_SAP, LLS_SAP, HLS_SAP, HLS_PLAIN_SAP = 0x10, 0x20, 0x30, 0x40


def forward_at(boundary: float) -> int:
    """+A register (raw, x10 Wh) captured at a boundary: rises 25 per 30 min."""
    return 100000 + int((boundary - START) // PERIOD) * 25


def reverse_at(boundary: float) -> int:
    return 5000 + int((boundary - START) // PERIOD) * 3


class FakeMeter:
    """A server plus its knobs: ``now`` (epoch s), ``breaker``, ``limit``, ``set_times``, ``pushed``."""

    def __init__(self, now: float = START + 2 * 86400 + 600, max_receive_pdu: int = 1024):
        self.now = now
        self.breaker = DisconnectStateMachine(mode=4)
        self.limit = 300          # 0.1 A -> 30 A
        self.set_times: list[float] = []
        self.pushed: list[bytes] = []
        self.events: list[tuple[str, str]] = []
        self.tx_counter = TxCounter(0)
        clock_col = CaptureObject(8, obis.CLOCK, 2, 0)
        fwd_col = CaptureObject(3, obis.ACTIVE_ENERGY_IMPORT, 2, 0)
        rev_col = CaptureObject(3, obis.ACTIVE_ENERGY_EXPORT, 2, 0)
        self.profile_source = PeriodicProfileSource(
            PERIOD, capacity=4800, latest_fn=lambda: (self.now // PERIOD) * PERIOD, earliest=START,
            row_fn=lambda t: (axdr.octet_string(epoch_to_octets(t)), axdr.double_long_unsigned(forward_at(t)),
                              axdr.double_long_unsigned(reverse_at(t))))
        limiter_binding = self
        self.objects = [
            Clock(set_time=self.set_times.append, write_level=Level.HIGH),
            DataObject(obis.DEVICE_ID, axdr.visible_string(DEVICE_ID)),
            DataObject(obis.SUPPLY_POINT_NUMBER, axdr.visible_string(SUPPLY_POINT)),
            Register(obis.ACTIVE_ENERGY_IMPORT, lambda: forward_at(self.now), scaler=1, unit=Unit.WH),
            Register(obis.ACTIVE_ENERGY_EXPORT, lambda: reverse_at(self.now), scaler=1, unit=Unit.WH),
            Register(obis.L1_VOLTAGE, lambda: 1012, scaler=-1, unit=Unit.V, value_type=DataType.LONG_UNSIGNED),
            Register(obis.L1_CURRENT, lambda: 153, scaler=-1, unit=Unit.A, value_type=DataType.LONG_UNSIGNED),
            Register(obis.ACTIVE_POWER_IMPORT, lambda: None, scaler=0, unit=Unit.W, value_type=DataType.DOUBLE_LONG),
            ProfileGeneric(obis.LOAD_PROFILE_1, [clock_col, fwd_col, rev_col], self.profile_source,
                           capture_period=PERIOD),
            DisconnectControl(obis.DISCONNECT_CONTROL, self.breaker, method_level=Level.HIGH),
            Limiter(obis.LIMITER, limiter_binding, (3, obis.CURRENT_ANY_PHASE, 2), write_level=Level.HIGH),
            PushSetup(obis.PUSH_SETUP_INTERVAL, [CaptureObject(1, obis.DEVICE_ID, 2), fwd_col],
                      send=lambda ps, apdu: self.pushed.append(apdu), method_level=Level.LOW),
        ]
        self.security = SecuritySetup(SERVER_TITLE, EK, AK, self.tx_counter)
        self.policies = [
            AssociationPolicy(PUBLIC_SAP, Mechanism.NONE),
            AssociationPolicy(LLS_SAP, Mechanism.LOW, secret=PASSWORD),
            AssociationPolicy(HLS_SAP, Mechanism.HIGH_GMAC, ciphered=True),
            AssociationPolicy(HLS_PLAIN_SAP, Mechanism.HIGH_GMAC, ciphered=False),
        ]
        self.server = CosemServer(self.objects, self.policies, security=self.security,
                                  max_receive_pdu=max_receive_pdu,
                                  random_bytes=lambda n: bytes(range(0x41, 0x41 + n)),
                                  on_security_event=lambda k, d: self.events.append((k, d)))
        push = self.objects[-1]
        push.read = lambda c, ctx: self.server.read_attribute(c.class_id, c.logical_name, c.attribute_index, ctx)

    # LimiterBinding
    def threshold(self) -> int:
        return self.limit

    def set_threshold(self, value: int, now: float) -> None:
        from sumame.firmware.net.dlms.cosem.control import ActionRefused
        if not 50 <= value <= 1000:
            raise ActionRefused(f"limit {value} outside 5..100 A")
        self.limit = value
