"""What the field-quirk profiles (``quirks.wisun_hooks``) may ask of an emulated SKSTACK dongle:
end an SKSENDTO they took over, print a line, fail a command, become another model. A mixin of
``dongle.EmulatedDongle`` (it uses the dongle's output, queue and power-on)."""
from __future__ import annotations

from .dongle_models import Personality


class QuirkSupport:
    def end_sendto(self, dst: bytes, result: int, delay_s: float = 0.0) -> None:
        """End an SKSENDTO a quirk took over: EVENT 21 <dst> <result>, OK (after ``delay_s``)."""
        def finish() -> None:
            self.stack_event(0x21, dst, result)
            self._ok()
            self._done()
        self._busy = True
        if delay_s:
            self.timeline.call_later(delay_s, finish)
        else:
            finish()

    def end_sendto_failed(self) -> None:
        """End an SKSENDTO a quirk refused with a FAIL line."""
        self._done()

    def write_line(self, text: str) -> None:
        self._out(text.encode("ascii") + b"\r\n")

    def skip_sendto_data(self) -> None:
        self._skip_data = True

    def fail(self, code: int) -> None:
        self._fail(code)

    def set_personality(self, personality: Personality) -> None:
        """Become another model (a different stick plugged in): a power-on with its facts."""
        self.p = personality
        self._power_on()
