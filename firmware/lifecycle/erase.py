"""Secure erase at disposal: the meter forgets every secret and every personal datum it stored.

``decommission(meter)`` first commits a ``decommissioned`` record to the boot control (code
flash), then erases every page of the data flash (interval snapshots, events, the StateStore
with renewed A-route keys, breaker and session state) and stops the meter. NOR erase sets every
byte to 0xFF, so a scan of the raw image finds none of the old bytes. Because the marker is
written first, a power cut in the middle leaves a meter that finishes the erase at its next boot
(``finish_erase``) and refuses service (:class:`Decommissioned`) until it is provisioned again.
Provisioning a decommissioned meter (``begin_provisioning``) first finishes the erase (a cut
may have left pages), then keeps the mark as ``PROVISIONING`` while the new records are
written, and clears it last (``provision``): a cut in between still leaves a refusing meter.
The firmware image and the release *public* keys stay: the meter must still boot to be
re-provisioned. Exporting the metering data the utility keeps is the caller's first step
(``sumame ctl decommission`` writes it to a file; a head-end reads the profiles over DLMS).
"""
from __future__ import annotations

MARKER = "decommissioned"
DECOMMISSIONED, PROVISIONING, IN_SERVICE = b"\x01", b"\x02", b"\x00"
TX_IC_STATE = "aroute.tx-ic"        # firmware/routes/aroute/counters.py (ceiling, u32)
"""The mark is the state byte + the A-route transmit invocation-counter floor (u32, big-endian):
not a secret, but a meter provisioned again with the same key (a reused key file) must never
reuse a GCM nonce, so the counter's ceiling outlives the erase (``tx_ic_floor``)."""


class Decommissioned(Exception):
    """The meter was decommissioned: no service until it is provisioned again."""


def is_decommissioned(control) -> bool:
    return control.values.get(MARKER, b"")[:1] in (DECOMMISSIONED, PROVISIONING)


def tx_ic_floor(control) -> int:
    """The transmit invocation counter a meter must start above after a decommissioning (0: none)."""
    value = control.values.get(MARKER, b"")
    return int.from_bytes(value[1:5], "big") if len(value) == 5 else 0


def _mark(control, state: bytes, floor: int) -> None:
    control.put(MARKER, state + max(floor, tx_ic_floor(control)).to_bytes(4, "big"))


def erase_data_flash(nvm) -> int:
    """Erase every page that is not blank; returns the count."""
    erased = 0
    blank = b"\xff" * nvm.page_size
    for page in range(nvm.page_count):
        if nvm.read(page * nvm.page_size, nvm.page_size) != blank:
            nvm.erase(page)
            erased += 1
    return erased


def decommission(meter) -> int:
    """Mark, erase, stop. Needs the code flash (boot control) for the marker."""
    lifecycle = meter.lifecycle
    if lifecycle is None:
        raise Decommissioned("this board has no code flash to keep the decommissioned mark")
    raw = meter.storage.load(TX_IC_STATE)
    _mark(lifecycle.loader.control, DECOMMISSIONED, int.from_bytes(raw, "big") if raw and len(raw) == 4 else 0)
    meter.power_down()
    return erase_data_flash(meter.hw.nvm)


def finish_erase(meter) -> None:
    """At boot: a decommissioned meter completes the erase and refuses to start."""
    erased = erase_data_flash(meter.hw.nvm)
    raise Decommissioned(f"meter {meter.config.identity.serial} is decommissioned"
                         + (f" (finished erasing {erased} pages)" if erased else "")
                         + "; provision it before use (sumame firmware provision)")


def begin_provisioning(control, data_nvm) -> bool:
    """Installer step on a decommissioned meter, before the new records: finish the erase (no
    byte of the old life may survive under the new one), mark ``PROVISIONING``. False if the
    meter was not decommissioned (nothing done)."""
    if not is_decommissioned(control):
        return False
    erase_data_flash(data_nvm)
    _mark(control, PROVISIONING, 0)
    return True


def provision(control) -> None:
    """Clear the mark: the last step of provisioning, once its records are durable."""
    _mark(control, IN_SERVICE, 0)
