"""COSEM objects of the external-connection security on the A-route (ours, manufacturer range).

* ``EXT_CONTROL`` 0.128.96.201.0.255, class 201 v0 (manufacturer-specific):
    attribute 2 (read, LOW): the cut-off peers, array of visible-string ("ip:192.168.1.20", "iot:GAS00001")
    method 1 cutoff(visible-string peer) / method 2 reconnect(visible-string peer) -> enum
    (0 done, 1 unknown peer, 2 not a peer name, 3 cut-off list full). Methods need the head-end's
    HLS-GMAC, ciphered association (``require_control_context``, else read-write-denied) and an
    invocation counter above the last command's (kept in flash): a replay is refused with
    read-write-denied and an ``ext-command-refused`` alarm — the switch's mechanism.
* ``EXT_LOG`` 0.128.99.201.0.255, profile generic (class 7, read LOW): the external-connection
  log, rows {time (octet-string date-time, JST), peer (visible-string), direction (enum 0 in,
  1 out), size (long-unsigned, bytes), verdict (enum, ``extlog.Verdict``)}, oldest first; range
  (by time) and entry selective access. Capture objects: the clock and four data objects
  0.128.96.201.1-4.255 (last entry's peer, direction, size, verdict).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import CosemError, CosemObject, Level, expect_type
from sumame.firmware.net.dlms.cosem.profile import ProfileGeneric, capture
from sumame.firmware.net.dlms.cosem.registers import DataObject
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets
from sumame.firmware.net.dlms.descriptors import DataAccessResult
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.control_binding import authority_of, require_control_context

from .service import CommandRefused

CONTROL_CLASS = 201
EXT_CONTROL = bytes([0, 128, 96, 201, 0, 255])
EXT_LOG = bytes([0, 128, 99, 201, 0, 255])
EXT_PEER, EXT_DIRECTION, EXT_SIZE, EXT_VERDICT = (bytes([0, 128, 96, 201, i, 255]) for i in (1, 2, 3, 4))
CUTOFF, RECONNECT = 1, 2


class ExternalControl(CosemObject):
    CLASS_ID = CONTROL_CLASS
    VERSION = 0
    ATTRIBUTES = 2
    METHODS = 2

    def __init__(self, security):
        super().__init__(EXT_CONTROL, read_level=Level.LOW, method_level=Level.HIGH)
        self.security = security

    def get_attribute(self, attr, ctx, access):
        return axdr.array(axdr.visible_string(p) for p in sorted(self.security.cut_off))

    def invoke_method(self, method, params, ctx):
        what = "cutoff" if method == CUTOFF else "reconnect"
        try:
            require_control_context(ctx)
        except CosemError as exc:
            self.security.events.record("ext-command-refused", source="extsec", detail=f"{what}: {exc}")
            raise
        if params is None or params.type is not DataType.VISIBLE_STRING:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, f"{what} takes the peer as a visible-string")
        peer = expect_type(params, DataType.VISIBLE_STRING, what="peer")
        try:
            self.security.check_authority(authority_of(ctx), f"{what} {peer}")
        except CommandRefused as exc:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"{what} refused: {exc}") from None
        why = f"head-end command, client 0x{ctx.client_sap:02X}"
        fn = self.security.cutoff if method == CUTOFF else self.security.reconnect
        return axdr.enum(fn(str(peer), why))


class ExternalLogSource:
    """ProfileSource over ``ExternalLog.entries`` (RAM ring, restored from flash at boot)."""

    def __init__(self, log):
        self.log = log

    @staticmethod
    def _row(e) -> tuple:
        return (axdr.octet_string(epoch_to_octets(e.at)), axdr.visible_string(e.peer), axdr.enum(int(e.direction)),
                axdr.long_unsigned(min(e.size, 0xFFFF)), axdr.enum(int(e.verdict)))

    def entries_in_use(self) -> int:
        return len(self.log.entries)

    def profile_entries(self) -> int:
        return self.log.entries.maxlen or 0

    def rows(self, start: float, end: float) -> list:
        found = list(self.log.entries)
        times = [int(e.at) for e in found]          # bounds are whole seconds (date-time)
        return [self._row(e) for e in found[bisect_left(times, start):bisect_right(times, end)]]

    def entries(self, first: int, last: int) -> list:
        found = list(self.log.entries)
        return [self._row(e) for e in found[max(first, 1) - 1:last]]


def _peer(e):
    return e.peer


def _direction(e):
    return int(e.direction)


def _size(e):
    return e.size


def _verdict(e):
    return int(e.verdict)


class _LastEntry:
    """Value of one field of the newest log entry (None: empty log); data, not a closure."""

    __slots__ = ("log", "field")

    def __init__(self, log, field):
        self.log, self.field = log, field

    def __call__(self):
        entries = self.log.entries
        return self.field(entries[-1]) if entries else None


def security_objects(security) -> list:
    log = security.log
    return [
        ExternalControl(security),
        DataObject(EXT_PEER, _LastEntry(log, _peer), data_type=DataType.VISIBLE_STRING, read_level=Level.LOW),
        DataObject(EXT_DIRECTION, _LastEntry(log, _direction), data_type=DataType.ENUM, read_level=Level.LOW),
        DataObject(EXT_SIZE, _LastEntry(log, _size), data_type=DataType.LONG_UNSIGNED, read_level=Level.LOW),
        DataObject(EXT_VERDICT, _LastEntry(log, _verdict), data_type=DataType.ENUM, read_level=Level.LOW),
        ProfileGeneric(EXT_LOG, [capture(8, oc.CLOCK, 2), capture(1, EXT_PEER, 2),
                                 capture(1, EXT_DIRECTION, 2), capture(1, EXT_SIZE, 2),
                                 capture(1, EXT_VERDICT, 2)],
                       ExternalLogSource(log), capture_period=0, read_level=Level.LOW),
    ]
