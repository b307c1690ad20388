"""Storage scrub keeps its page plan (journals, pages) between calls; a boot makes the journals
anew (same names, same dict), so the plan must be made anew too, or the scrub keeps verifying
the previous boot's journal objects and misses damage to records written since."""
from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.metrology.registers import Retention
from sumame.firmware.storage.journal import OVERHEAD
from sumame.firmware.storage.store import Storage, StorageLayout

KEY = bytes(range(32))
PAGE = 512


class Clock:
    def now(self):
        return 1775055600.0


def test_scrub_after_a_second_boot_checks_the_new_journals():
    flash = EmulatedFlash(None, page_size=PAGE, page_count=8)
    st = Storage(flash, StorageLayout(PAGE, {"state": (1, 2), "extlog": (3, 3)}), KEY, Clock())
    st.boot(Retention())
    st.append_extlog(b"before")
    pages = sum(j.page_count for j in st.journals.values())
    assert all(st.scrub() == [] for _ in range(pages))      # the plan is made (and kept)
    st.boot(Retention())                                    # e.g. a re-mount on the same object
    record = st.append_extlog(b"after the second boot")
    journal = st.journals["extlog"]
    at = (journal.first_page + record.page) * PAGE + record.offset + OVERHEAD - 6
    flash.flip_bit(at, 0)                                   # bit rot inside that record
    found = [f for _ in range(pages) for f in st.scrub()]
    assert [(name, seq) for name, _, _, _, seq in found] == [("extlog", record.seq)], found
