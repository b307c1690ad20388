"""``sumame mutate``'s module table names real files, and its report reads cosmic-ray's diffs."""
import ast
from pathlib import Path

from sumame.tools.mutation.modules import SAFETY_MODULES
from sumame.tools.mutation.runner import _changed_lines

ROOT = Path(__file__).resolve().parents[2]


def test_every_safety_module_and_guarding_test_exists():
    for mod in SAFETY_MODULES:
        assert (ROOT / mod.source).is_file(), mod.source
        for test in mod.tests:
            path, _, name = test.partition("::")
            assert (ROOT / path).exists(), test
            if name:                                  # a node id names a test of that file
                tree = ast.parse((ROOT / path).read_text())
                assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, test


def test_a_survivor_is_reported_with_the_lines_it_changed():
    diff = "--- mutation diff ---\n--- afirmware/x.py\n+++ bfirmware/x.py\n@@ -1 +1 @@\n-    a < b\n+    a <= b\n"
    assert _changed_lines(diff) == "- a < b | + a <= b"


def test_the_journal_class_the_meter_runs_is_mutated():
    """Storage builds its journals as IndexedJournal (journal_index.py), which re-implements the
    read-back and the scrub: mutating only journal.py left the code the meter runs unmutated."""
    import inspect

    from sumame.firmware.storage import store

    sources = {m.source for m in SAFETY_MODULES}
    used = inspect.getsourcefile(store.IndexedJournal)
    assert str(Path(used).resolve().relative_to(ROOT)) in sources
    assert "firmware/storage/journal.py" in sources
