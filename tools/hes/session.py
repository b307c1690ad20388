"""One DLMS association with a meter over a link, driving the sans-io ``DlmsClient``.

    async with DlmsSession(link, settings, timeout_s=20) as s:     # AARQ (+ HLS pass 3/4)
        value = await s.get(3, obis("1.0.1.8.0.255"), 2)           # Data, or raises DlmsRefused
        rows = await s.get(7, PROFILE, 2, range_access(t0, t1))
        await s.action(70, DISCONNECT_CONTROL, 1, axdr.integer(0))
                                                                    # RLRQ on exit
GET block transfer is followed to the end; exception-responses and Data-Access-Results other
than success raise ``DlmsRefused`` with the code.
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import Data
from sumame.firmware.net.dlms.client import DlmsClient
from sumame.firmware.net.dlms.cosem.profile import SELECTOR_RANGE, CaptureObject
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets
from sumame.firmware.net.dlms.descriptors import DataAccessResult, SelectiveAccess
from sumame.firmware.net.dlms.notify import ExceptionResponse, ServiceError
from sumame.firmware.net.dlms.obis import CLOCK
from sumame.firmware.net.dlms.wrapper import WrapperPdu, WrapperStream
from sumame.firmware.net.dlms.xdlms import (ActionResponseNormal, GetResponseNormal, GetResponseWithList,
                                            SetResponseNormal)
from sumame.firmware.core.scheduler import Queue

from .links import SERVER_WPORT, open_link


class DlmsRefused(Exception):
    """The meter answered, but not with success: ``code`` is the Data-Access-Result (or the
    exception-response's service error), ``what`` the request."""

    def __init__(self, what: str, code: int, detail: str = "", *, exception: bool = False):
        self.what, self.code, self.exception = what, code, exception
        table = ServiceError if exception else DataAccessResult
        name = table(code).name if code in table._value2member_map_ else str(code)
        kind = "exception-response " if exception else ""
        super().__init__(f"{what}: {kind}{name}{' ' + detail if detail else ''}")


ROWS_PER_READ = 500
"""Profile rows the head-end asks for in one GET: the meter refuses a selection of more than
1000 (``firmware/net/dlms/server.py`` REQUEST_ROWS) so that no request holds its loop."""


def range_chunks(start: float, end: float, minutes: int, rows: int = ROWS_PER_READ):
    """(from, to) windows covering [start, end] with at most ``rows`` boundaries each."""
    step = rows * minutes * 60
    t = start
    while t <= end:
        yield t, min(end, t + step - minutes * 60)
        t += step


def range_access(start: float, end: float) -> SelectiveAccess:
    """Range selection [start, end] on a profile's clock column (all columns)."""
    return SelectiveAccess(SELECTOR_RANGE, axdr.structure(
        CaptureObject(8, CLOCK, 2).to_data(), axdr.octet_string(epoch_to_octets(start)),
        axdr.octet_string(epoch_to_octets(end)), axdr.array(())))


class DlmsSession:
    def __init__(self, link, settings, *, timeout_s: float = 20.0):
        self.link = link
        self.client = DlmsClient(settings)
        self.wport = settings.client_sap
        self.server_wport = getattr(link, "server_wport", SERVER_WPORT)
        self.timeout_s = timeout_s
        self._stream = WrapperStream() if link.stream else None
        self._pending: list[WrapperPdu] = []
        self.exchanges = 0

    async def __aenter__(self) -> "DlmsSession":
        await self.associate()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.client.associated:
                await self.release()
        finally:
            self.link.close()

    # ---------------------------------------------------------------- exchange
    async def _exchange(self, apdu: bytes) -> bytes:
        self.link.send(WrapperPdu(self.wport, self.server_wport, apdu).encode())
        self.exchanges += 1
        while True:
            if self._pending:
                pdu = self._pending.pop(0)
            else:
                data = await self.link.recv(self.timeout_s)
                if self._stream is not None:
                    self._pending += self._stream.feed(data)
                    continue
                pdu = WrapperPdu.decode(data)
            if pdu.destination == self.wport:
                return pdu.apdu

    async def associate(self) -> None:
        self.client.parse_aare(await self._exchange(self.client.aarq()))
        if self.client.hls_pending:
            self.client.receive(await self._exchange(self.client.hls_reply()))

    async def release(self) -> None:
        await self._exchange(self.client.release())

    async def _request(self, apdu: bytes, what: str):
        reply = self.client.receive(await self._exchange(apdu))
        while reply.next_request is not None:
            reply = self.client.receive(await self._exchange(reply.next_request))
        response = reply.response
        if isinstance(response, ExceptionResponse):
            raise DlmsRefused(what, response.service_error, exception=True)
        return response

    # ---------------------------------------------------------------- services
    async def get(self, class_id: int, ln: bytes, attr: int, access: SelectiveAccess | None = None) -> Data:
        what = f"GET {class_id}/{'.'.join(map(str, ln))}/{attr}"
        response = await self._request(self.client.get(class_id, ln, attr, access), what)
        if not isinstance(response, GetResponseNormal):
            raise DlmsRefused(what, DataAccessResult.OTHER_REASON, f"unexpected {type(response).__name__}")
        if isinstance(response.result, int):
            raise DlmsRefused(what, response.result)
        return response.result

    async def get_list(self, items: list[tuple[int, bytes, int]]) -> list[Data | int]:
        """Several attributes in one request; each entry is Data or a Data-Access-Result."""
        response = await self._request(self.client.get_with_list(items), "GET with list")
        if isinstance(response, GetResponseNormal):      # a single-item list may come back normal
            return [response.result]
        if not isinstance(response, GetResponseWithList):
            raise DlmsRefused("GET with list", DataAccessResult.OTHER_REASON, type(response).__name__)
        return list(response.results)

    async def set(self, class_id: int, ln: bytes, attr: int, value: Data) -> None:
        what = f"SET {class_id}/{'.'.join(map(str, ln))}/{attr}"
        response = await self._request(self.client.set(class_id, ln, attr, value), what)
        if not isinstance(response, SetResponseNormal) or response.result != DataAccessResult.SUCCESS:
            raise DlmsRefused(what, getattr(response, "result", DataAccessResult.OTHER_REASON))

    async def action(self, class_id: int, ln: bytes, method: int, params: Data | None = None) -> Data | None:
        what = f"ACTION {class_id}/{'.'.join(map(str, ln))}/{method}"
        response = await self._request(self.client.action(class_id, ln, method, params), what)
        if not isinstance(response, ActionResponseNormal) or response.result != DataAccessResult.SUCCESS:
            raise DlmsRefused(what, getattr(response, "result", DataAccessResult.OTHER_REASON))
        return response.return_value if isinstance(response.return_value, Data) else None


class MeterSession:
    """``async with`` one association to one meter: at most one at a time per meter (its lock,
    and with a shared store the store's lease on it, so also across head-end processes), link
    opened and associated on entry, released and closed on exit."""

    def __init__(self, head_end, m, public: bool):
        self.head_end, self.m, self.public = head_end, m, public
        self.session: DlmsSession | None = None

    async def __aenter__(self) -> DlmsSession:
        he, m = self.head_end, self.m
        if m.lock is None or (m.serial and m.lock is not he._locks.get(m.serial)):
            key = m.serial or m.id      # one association at a time per meter, whatever its address
            if key not in he._locks:
                he._locks[key] = Queue()
                he._locks[key].put_nowait(True)
            m.lock = he._locks[key]
        lock = self.lock = m.lock
        await lock.get()
        self.leased = False
        try:
            if not self.public and he.config.shared_store:   # no other process's session with it now
                await he.take_lease(m)
                self.leased = True
            link = await open_link(m.target, network=he.network, timeout_s=he.config.timeout_s)
            session = DlmsSession(link, he._settings(m, self.public), timeout_s=he.config.timeout_s)
            try:
                await session.associate()
            except BaseException:
                link.close()
                raise
        except BaseException:
            self._unlock()
            raise
        he.stats["associations"] += 1
        self.session = session
        return session

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            await self.session.__aexit__(exc_type, exc, tb)
        finally:
            self._unlock()

    def _unlock(self) -> None:
        try:
            if self.leased:
                self.leased = False
                self.head_end.drop_lease(self.m)
        finally:
            self.lock.put_nowait(True)
