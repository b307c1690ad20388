"""Field quirks of real meters and dongles as switchable fault profiles (issue 17).

Each profile reproduces a finding of ``shared/reference/field-quirks.md`` (its docstring says
which, or "model" where no field evidence exists). Profiles act only at the interfaces — ECHONET
frames between the B-route application and its media (``hal.FrameFilter``), SKSTACK bytes on the
HEMS dongle's pty — never on registers or storage. ``registry`` names them and the presets;
``engine`` switches them, logs every activation and every frame a quirk changes, and reports.
"""
