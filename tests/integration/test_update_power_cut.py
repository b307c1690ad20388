"""Proof: cut power at every flash operation of a firmware update; the meter always comes up on
a valid signed image and loses no committed interval data.

The scenario starts from a meter that has run for 5 minutes (both flash images saved): a
head-end task transfers a signed image block by block, verifies and activates it; the meter
resets, boots the new image on trial, passes its self-test and commits. Every flash operation
of that scenario — on the code flash (slot erase and programs, transfer bitmap, boot control)
and on the data flash (events, snapshots, checkpoint at reset) — is counted in one sequence.
For each operation k the scenario is re-run and power is cut *during* k (nothing, half, or
all but the last byte of it written). The meter then boots from what the flashes hold and must:

* boot (never "no bootable image") an image that verifies against the release key: the old
  one or the new one, never the half-written slot;
* run the new image if the commit was durable before the cut (no rollback after a commit);
* serve every snapshot committed before the cut, report no corruption or tamper;
* keep measuring, settle (commit the trial or roll back) and boot the same image again.
"""
from __future__ import annotations

import contextlib

import pytest

from sumame.boards.build import emulation_release_key
from sumame.firmware.lifecycle.bootloader import Bootloader, NoBootableImage
from sumame.firmware.lifecycle.image import Policy, verify_image
from sumame.firmware.core.scheduler import sleep
from sumame.firmware.storage.store import Storage
from sumame.hal.errors import PowerCut
from lifecycle_helpers import START, runtime, signed_image

pytestmark = pytest.mark.lifecycle
T0 = START + 300
TORN = (0.0, 0.5, 0.99)
NEW = signed_image(version=(0, 2, 0), security_version=2, build_id="cut-proof")
KEYS = (emulation_release_key().public_key().public_bytes_raw(),)


@pytest.fixture(scope="module")
def base():
    rt = runtime()
    rt.scheduler.run(until=T0)
    images = {n: rt.built.emulated[n].image() for n in ("flash", "code_flash")}
    old = rt.meter.lifecycle.running.header
    rt.close()
    return images, old


def boot_from(images, at):
    rt = runtime(at, boot=False)
    for name, data in images.items():
        rt.built.emulated[name].load_image(data)
    rt.boot()
    return rt


@contextlib.contextmanager
def counted(rt, cut_at=None, torn=0.5):
    """One op sequence over both flashes; commits lists (ops done, snapshot) of committed snaps."""
    state = {"n": 0, "cut": None, "commits": [], "phase": "boot", "phases": []}
    for name in ("flash", "code_flash"):
        flash = rt.built.emulated[name]
        original = flash._operation

        def op(o, flash=flash, original=original):
            state["n"] += 1
            state["phases"].append(state["phase"])
            if state["n"] == cut_at:
                flash.apply(o, torn=torn)
                state["cut"] = rt.clock.now()
                raise PowerCut(f"cut at op {cut_at}")
            original(o)
        flash._operation = op
    append = Storage.append_snapshot

    def tracked(self, snap):
        append(self, snap)
        state["commits"].append((state["n"], snap))
    commit = Bootloader.commit

    def committing(self, running):
        out = commit(self, running)
        state["commit_op"] = state["n"]
        return out
    Storage.append_snapshot, Bootloader.commit = tracked, committing
    try:
        yield state
    finally:
        Storage.append_snapshot, Bootloader.commit = append, commit


def scenario(rt, state):
    async def head_end():
        state["phase"] = "transfer"
        agent = rt.meter.lifecycle.agent
        agent.initiate(b"cut-proof", len(NEW))
        size = agent.block_size
        for n in range(-(-len(NEW) // size)):
            agent.block(n, NEW[n * size:(n + 1) * size])
            await sleep(1.0)
        state["phase"] = "verify"
        agent.verify()
        await sleep(1.0)
        state["phase"] = "activate"
        agent.activate()
        state["phase"] = "trial-boot"
    rt.scheduler.spawn(head_end(), name="hes", group="hes")
    rt.scheduler.run(until=T0 + 400)


@pytest.fixture(scope="module")
def reference(base):
    images, old = base
    rt = boot_from(images, T0)
    with counted(rt) as state:
        scenario(rt, state)
    assert rt.meter.lifecycle.running.header.build_id == "cut-proof"
    assert rt.meter.lifecycle.self_test == "passed" and "commit_op" in state
    rt.close()
    return {"ops": state["n"], "phases": state["phases"], "commit_op": state["commit_op"]}


def check_cut(base, reference, k, torn):
    images, old = base
    rt = boot_from(images, T0)
    with counted(rt, cut_at=k, torn=torn) as state:
        with pytest.raises(PowerCut):
            scenario(rt, state)
    cut_at, commits = state["cut"], state["commits"]
    after = {n: rt.built.emulated[n].image() for n in ("flash", "code_flash")}
    rt.close()
    try:
        again = boot_from(after, cut_at + 90)
    except NoBootableImage as exc:
        return f"meter does not boot: {exc}"
    try:
        running = again.meter.lifecycle.running
        slot = again.meter.lifecycle.loader.slots[running.slot]
        header = verify_image(slot.image(), Policy("lv", KEYS))
        if header.build_id not in (old.build_id, "cut-proof"):
            return f"booted an unknown image {header.build_id}"
        if k > reference["commit_op"] and header.build_id != "cut-proof":
            return "rolled back after the commit was durable"
        restored = {s.minute: s for s in again.meter.registers.snapshots()}
        for done, snap in commits:
            if done < k and restored.get(snap.minute) != snap:
                return f"committed snapshot of minute {snap.minute} lost"
        alarms = [e for e in again.meter.events if e.kind in ("corruption", "tamper")
                  or e.kind.startswith("boot-control-")]
        if alarms:
            return f"false alarm: {alarms[0]}"
        again.scheduler.run(until=cut_at + 90 + 300)
        if again.meter.registers.newest is None or again.meter.registers.newest.epoch < cut_at + 90 + 200:
            return "meter did not keep measuring"
        settled = again.meter.lifecycle
        final = {n: again.built.emulated[n].image() for n in ("flash", "code_flash")}
        build = settled.running.header.build_id
    finally:
        again.close()
    third = boot_from(final, cut_at + 500)
    try:
        if third.meter.lifecycle.running.header.build_id != build:
            return f"second boot changed image {build} -> {third.meter.lifecycle.running.header.build_id}"
        if third.meter.lifecycle.running.trial:
            return "still on trial after settling"
    finally:
        third.close()
    return None


def sweep(base, reference, ks):
    failures = []
    for k in ks:
        problem = check_cut(base, reference, k, TORN[k % 3])
        if problem:
            failures.append(f"cut at op {k} ({reference['phases'][k - 1]}, torn {TORN[k % 3]}): {problem}")
            if len(failures) > 5:
                break
    return failures


def test_scenario_covers_every_phase(reference):
    phases = set(reference["phases"])
    assert {"transfer", "verify", "activate", "trial-boot"} <= phases, phases
    assert reference["ops"] > 40 and reference["commit_op"] < reference["ops"]
    print({p: reference["phases"].count(p) for p in phases}, "commit at op", reference["commit_op"])


def test_power_cut_sample_of_update_operations(base, reference):
    """make-test budget: every 4th operation of the update, plus the first and last."""
    ks = sorted({1, reference["ops"], *range(2, reference["ops"] + 1, 4)})
    failures = sweep(base, reference, ks)
    assert not failures, "\n".join(failures)


@pytest.mark.long
@pytest.mark.parametrize("torn", TORN)
def test_power_cut_at_every_update_operation(base, reference, torn):
    failures = []
    for k in range(1, reference["ops"] + 1):
        problem = check_cut(base, reference, k, torn)
        if problem:
            failures.append(f"cut at op {k} ({reference['phases'][k - 1]}): {problem}")
            if len(failures) > 5:
                break
    assert not failures, "\n".join(failures)
