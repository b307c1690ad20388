"""Head-end side of the meter's external-connection security (firmware/security).

``HeadEnd.cutoff_external(meter_id, peer)`` / ``reconnect_external(meter_id, peer)`` invoke
method 1 / 2 of the meter's EXT_CONTROL object (0.128.96.201.0.255) over the head-end's
HLS-GMAC, ciphered association — each request carries a fresh invocation counter, so it is
authenticated and replay-protected — and return ``{"ok", "detail", "cut_off": [peers]}``,
recorded as commands ("cutoff" / "reconnect", argument = the peer) in the head-end's store.
``read_extlog(meter_id, start, end)`` reads the external-connection log (profile generic
0.128.99.201.0.255) by time range and returns dict rows {at (epoch s), peer, direction,
size, verdict}. Peers are "ip:ADDRESS", "wi-sun:ADDRESS", "inproc:NAME" or "iot:TERMINAL_ID".
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.cosem_time import octets_to_epoch
from sumame.firmware.security.cosem import CONTROL_CLASS, CUTOFF, EXT_CONTROL, EXT_LOG, RECONNECT
from sumame.firmware.security.extlog import Verdict
from sumame.firmware.security.service import RESULT_NAMES

from sumame.firmware.net.dlms.cosem.profile import SELECTOR_ENTRY
from sumame.firmware.net.dlms.descriptors import SelectiveAccess

from .session import DlmsRefused

DIRECTIONS = {0: "in", 1: "out"}
ROWS_PER_READ = 500
"""The log is read by entry in chunks of this many rows (a meter answers at most 1000 rows per
request; a range read would be charged the whole log, as its entries are not periodic)."""


async def external_command(hes, meter_id: str, op: str, peer: str) -> dict:
    """``op`` "cutoff" or "reconnect" of ``peer`` at the meter."""
    m = hes.meter(meter_id)
    now = hes.clock.now()
    result = {"ok": False, "detail": "", "cut_off": []}
    try:
        async with hes.session(m) as s:
            code = await s.action(CONTROL_CLASS, EXT_CONTROL, CUTOFF if op == "cutoff" else RECONNECT,
                                  axdr.visible_string(peer))
            cut = await s.get(CONTROL_CLASS, EXT_CONTROL, 2)
        code = code.value if code is not None else -1
        result.update(ok=code == 0, detail=RESULT_NAMES.get(code, f"result {code}"),
                      cut_off=[d.value for d in cut.value])
    except DlmsRefused as exc:
        result["detail"] = f"refused by the meter: {exc}"
    except (OSError, TimeoutError) as exc:
        result["detail"] = f"meter unreachable: {exc}"
    hes.store.add_command(m.id, now, op, peer, result["ok"], result["detail"])
    return result


def decode_rows(rows) -> list[dict]:
    out = []
    for row in rows.value:
        at, peer, direction, size, verdict = (d.value for d in row.value)
        try:
            verdict_text = Verdict(verdict).text
        except ValueError:
            verdict_text = f"verdict {verdict}"
        out.append({"at": octets_to_epoch(at), "peer": peer, "direction": DIRECTIONS.get(direction, str(direction)),
                    "size": size, "verdict": verdict_text})
    return out


def entry_access(first: int, last: int) -> SelectiveAccess:
    return SelectiveAccess(SELECTOR_ENTRY, axdr.structure(axdr.double_long_unsigned(first), axdr.double_long_unsigned(last),
                                                          axdr.long_unsigned(1), axdr.long_unsigned(0)))


async def read_extlog(hes, meter_id: str, start: float | None = None, end: float | None = None) -> list[dict]:
    """Rows with ``start <= at <= end`` (None: no bound), oldest first. Entries logged while the
    chunks are read may shift the ring by a few rows (a row can appear twice at a seam)."""
    m = hes.meter(meter_id)
    rows: list[dict] = []
    async with hes.session(m) as s:
        in_use = (await s.get(7, EXT_LOG, 7)).value
        for first in range(1, in_use + 1, ROWS_PER_READ):
            rows += decode_rows(await s.get(7, EXT_LOG, 2, entry_access(first, min(in_use, first + ROWS_PER_READ - 1))))
    return [r for r in rows if (start is None or r["at"] >= int(start)) and (end is None or r["at"] <= end)]
