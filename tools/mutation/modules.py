"""Which safety-critical module is mutated, and which tests must kill its mutants.

Each entry: the source file, the tests that guard it (fast ones: every mutant reruns them).
A test may be a pytest node id (``file::test``) to leave out a slow test of a file. Every
module is also guarded by ``KILLS``, the tests written for mutants that once survived.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyModule:
    name: str
    source: str
    tests: tuple[str, ...]
    why: str


KILLS = "tests/unit/test_mutation_kills.py"

SAFETY_MODULES = (
    SafetyModule("journal", "firmware/storage/journal.py",
                 (KILLS, "tests/unit/test_journal.py", "tests/unit/test_journal_safety.py",
                  "tests/unit/test_journal_primitives.py",
                  # the exhaustive bit-flip sweep takes ~45 s per run: its fast siblings stay
                  "tests/integration/test_bit_flip.py::test_clean_image_boots_without_alarms",
                  "tests/integration/test_bit_flip.py::test_scrub_finds_a_flip_while_running",
                  "tests/integration/test_bit_flip.py::test_flipped_bit_in_erased_flash_ahead_of_the_writes"),
                 "stored values kept unaltered; torn writes, corruption and tamper told apart"),
    SafetyModule("journal-index", "firmware/storage/journal_index.py",
                 (KILLS, "tests/unit/test_journal.py", "tests/unit/test_journal_safety.py",
                  "tests/unit/test_journal_primitives.py",
                  "tests/integration/test_bit_flip.py::test_clean_image_boots_without_alarms",
                  "tests/integration/test_bit_flip.py::test_scrub_finds_a_flip_while_running",
                  "tests/integration/test_bit_flip.py::test_flipped_bit_in_erased_flash_ahead_of_the_writes",
                  "tests/integration/test_hardware_faults.py"),
                 "the journal the meter runs: records re-read from flash are served, and scrubbed, only if they verify"),
    SafetyModule("storage", "firmware/storage/store.py",
                 (KILLS, "tests/unit/test_journal.py", "tests/unit/test_journal_safety.py",
                  "tests/integration/test_bit_flip.py::test_clean_image_boots_without_alarms",
                  "tests/integration/test_bit_flip.py::test_scrub_finds_a_flip_while_running",
                  "tests/integration/test_bit_flip.py::test_flipped_bit_in_erased_flash_ahead_of_the_writes",
                  "tests/integration/test_hardware_faults.py"),
                 "recovery after a power cut loses nothing committed"),
    SafetyModule("guard", "firmware/routes/broute/guard.py",
                 (KILLS, "tests/unit/test_guard_rate.py", "tests/integration/test_broute_node.py",
                  "tests/integration/test_broute_flood.py"),
                 "B-route device limit, rate limit and DoS detection"),
    SafetyModule("dlms-security", "firmware/net/dlms/security.py",
                 (KILLS, "tests/unit/dlms", "tests/integration/test_aroute_forged_commands.py"),
                 "GCM tags and invocation counters authenticate and de-duplicate commands"),
    SafetyModule("dlms-association", "firmware/net/dlms/association.py",
                 (KILLS, "tests/unit/dlms", "tests/integration/test_aroute_forged_commands.py"),
                 "which association may read, set or act on which object"),
    SafetyModule("breaker", "firmware/switchgear/breaker.py",
                 (KILLS, "tests/unit/test_breaker.py", "tests/unit/test_breaker_reboot.py",
                  "tests/integration/test_breaker_timing.py", "tests/integration/test_switch_subsystem.py"),
                 "trip curve, reclose, 8-trip lockout, no unintended stroke"),
    SafetyModule("control", "firmware/switchgear/control.py",
                 (KILLS, "tests/unit/test_control.py", "tests/unit/test_control_authority.py",
                  "tests/integration/test_switch_subsystem.py"),
                 "only authenticated, fresh commands from the A-route operate the switch"),
    SafetyModule("aroute-control", "firmware/routes/aroute/control_binding.py",
                 (KILLS, "tests/unit/test_aroute_parts.py", "tests/unit/test_control_authority.py",
                  "tests/integration/test_aroute_forged_commands.py"),
                 "DLMS disconnect/limit actions reach the breaker only through the secured path"),
)
