"""The external-connection log writes its RAM batches as one journal record each: a batch must
fit the record a page of the board's flash holds. The schema allows pages of 256 B to 8 KiB,
but a batch was cut only at 64 entries or 2048 bytes — on a 1024- or 2048-byte page a burst of
64 frames within ``flush_s`` raised JournalFull out of the per-frame hook (and lost the batch)."""
import pytest

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.metrology.registers import Retention
from sumame.firmware.security.extlog import Direction, Entry, ExternalLog, Verdict
from sumame.firmware.storage.store import Storage, plan_layout

KEY = bytes(range(32))
SIZED = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)


class _Clock:
    def now(self):
        return 1.7e9


def _boot(flash, page_size):
    store = Storage(flash, plan_layout(page_size, 128, SIZED, event_pages=2, state_pages=2), KEY, _Clock())
    return store, store.boot(SIZED)


@pytest.mark.parametrize("page_size", [512, 1024, 2048, 4096])
def test_a_burst_of_frames_is_batched_into_records_the_page_holds(page_size):
    flash = EmulatedFlash(None, page_size=page_size, page_count=128)
    store, _ = _boot(flash, page_size)
    log = ExternalLog(store)
    count = min(120, store.extlog_capacity // 80)      # all of it still in the flash ring
    assert count >= 40
    sent = [Entry(1.7e9 + i, f"ip:[2001:db8::{i:x}]:4059" if i % 3 else "inproc:hes",
                  Direction(i & 1), 100 + i, Verdict.SENT) for i in range(count)]
    for e in sent:
        log.append(e)
    assert log.flush() and log.written == len(sent)
    store2, report = _boot(flash, page_size)
    again = ExternalLog(store2)
    again.restore(report.extlog)
    assert list(again.entries) == sent and not again.notes
