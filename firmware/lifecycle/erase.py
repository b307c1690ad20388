"""Secure erase at disposal: the meter forgets every secret and every personal datum it stored.

``decommission(meter)`` first commits a ``decommissioned`` record to the boot control (code
flash), then erases every page of the data flash (interval snapshots, events, the StateStore
with renewed A-route keys, breaker and session state) and stops the meter. NOR erase sets every
byte to 0xFF, so a scan of the raw image finds none of the old bytes. Because the marker is
written first, a power cut in the middle leaves a meter that finishes the erase at its next boot
(``finish_erase``) and refuses service (:class:`Decommissioned`) until it is provisioned again.
The firmware image and the release *public* keys stay: the meter must still boot to be
re-provisioned. Exporting the metering data the utility keeps is the caller's first step
(``sumame ctl decommission`` writes it to a file; a head-end reads the profiles over DLMS).
"""
from __future__ import annotations

MARKER = "decommissioned"


class Decommissioned(Exception):
    """The meter was decommissioned: no service until it is provisioned again."""


def is_decommissioned(control) -> bool:
    return control.values.get(MARKER) == b"\x01"


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
    lifecycle.loader.control.put(MARKER, b"\x01")
    meter.power_down()
    return erase_data_flash(meter.hw.nvm)


def finish_erase(meter) -> None:
    """At boot: a decommissioned meter completes the erase and refuses to start."""
    erased = erase_data_flash(meter.hw.nvm)
    raise Decommissioned(f"meter {meter.config.identity.serial} is decommissioned"
                         + (f" (finished erasing {erased} pages)" if erased else "")
                         + "; provision it before use (sumame firmware provision)")


def provision(control) -> None:
    """Clear the mark (factory or installer step after a decommission)."""
    control.put(MARKER, b"\x00")
