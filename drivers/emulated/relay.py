"""Emulated latching relay: contact state, operation counter, contact wear, fault injection.

Physics: a bistable relay keeps its contact without power; ``drive(target)`` is one coil stroke.
Every stroke counts as an operation (wear), also one towards the position the contact already
has. After ``wear_limit`` operations the contact welds: it stays where it is (a stuck contact the
firmware detects by read-back). Faults to inject:

* ``stick(position)``: the contact no longer moves (welded / jammed), ``unstick()`` clears it;
* ``cut_power_on_next_drive(moved=...)``: the supply vanishes during the next stroke; the contact
  has moved or not (``moved``), the stroke is counted, and ``PowerCut`` is raised;
* ``fail_coil(True)``: the coil driver is dead: ``drive`` raises RelayError;
* ``fail_sense(True)``: the auxiliary contact input reads garbage: ``sensed`` raises RelayError.

``load_connected`` tells an emulated metering chip whether the load sees the supply (current
flows only while the contact is closed).

With a ``path`` (``relay.bin`` in the state directory) the contact and the operation count
survive a restart of the emulator, as the contact of a real latching relay survives a power
cycle: the file is rewritten after every stroke, and an unreadable file is logged and ignored.
"""
from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

from sumame.hal.errors import PowerCut, RelayError
from sumame.hal.relay import ContactState

log = logging.getLogger(__name__)
_STATE = struct.Struct(">4sBI")   # magic, contact (0 open, 1 closed), operations
_MAGIC = b"SMRL"


class EmulatedRelay:
    def __init__(self, initial: ContactState = ContactState.CLOSED, *,
                 wear_limit: int = 100_000, operations: int = 0, path: Path | str | None = None):
        self.path = None if path is None else Path(path)
        self.contact = initial
        self.operations = operations
        self._load()
        self.wear_limit = wear_limit
        self.drive_log: list[ContactState] = []
        """Every stroke requested, in order (tests check that none happened at boot)."""
        self._stuck: ContactState | None = None
        self._cut: bool | None = None
        self._coil_dead = False
        self._sense_dead = False
        self.before_move: list = []
        """Called (no arguments) just before the contact moves: the emulated metering chip
        integrates the load up to that instant."""

    # ---------------------------------------------------------------- persistence
    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            magic, closed, operations = _STATE.unpack(self.path.read_bytes())
            if magic != _MAGIC or closed > 1:
                raise ValueError("not a relay state record")
        except (OSError, ValueError, struct.error) as exc:
            log.warning("relay state %s unreadable (%s): the contact starts %s", self.path, exc,
                        self.contact.value)
            return
        self.contact = ContactState.CLOSED if closed else ContactState.OPEN
        self.operations = operations

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(_STATE.pack(_MAGIC, self.contact is ContactState.CLOSED, self.operations))
        os.replace(tmp, self.path)

    # ---------------------------------------------------------------- fault injection
    def stick(self, position: ContactState | None = None) -> None:
        """Weld the contact at ``position`` (default: where it is now)."""
        self._stuck = position or self.contact
        self.contact = self._stuck
        self._save()

    def unstick(self) -> None:
        self._stuck = None

    def cut_power_on_next_drive(self, *, moved: bool) -> None:
        self._cut = moved

    def fail_coil(self, dead: bool = True) -> None:
        self._coil_dead = dead

    def fail_sense(self, dead: bool = True) -> None:
        self._sense_dead = dead

    @property
    def worn_out(self) -> bool:
        return self.operations >= self.wear_limit

    @property
    def load_connected(self) -> bool:
        return self.contact is ContactState.CLOSED

    # ---------------------------------------------------------------- Relay contract
    def drive(self, target: ContactState) -> None:
        if self._coil_dead:
            raise RelayError("coil driver open circuit: no stroke")
        self.drive_log.append(target)
        try:
            self._stroke(target)
        finally:
            self._save()

    def _stroke(self, target: ContactState) -> None:
        moves = self._stuck is None and not self.worn_out
        self.operations += 1
        if self._cut is not None:
            moved, self._cut = self._cut, None
            if moved and moves:
                self._move(target)
            raise PowerCut(f"supply lost during the stroke to {target.value}")
        if moves:
            self._move(target)
        elif self.worn_out and self._stuck is None:
            self._stuck = self.contact   # welded at end of life

    def _move(self, target: ContactState) -> None:
        if target is not self.contact:
            for hook in self.before_move:
                hook()
        self.contact = target

    def sensed(self) -> ContactState:
        if self._sense_dead:
            raise RelayError("auxiliary contact input reads neither open nor closed")
        return self.contact
