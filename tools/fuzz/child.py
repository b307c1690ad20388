"""Run one fuzz target under atheris (libFuzzer) in this process.

``python -m sumame.tools.fuzz.child TARGET FINDINGS_FILE [libFuzzer flags…] CORPUS_DIR``

atheris can set up only once per process and exits when done, so the runner starts one child
per target. An exception outside the target's ``allowed`` errors is a finding: its type and
the innermost frame are appended to FINDINGS_FILE (deduplicated) with the input in hex, and
fuzzing goes on. Inputs over libFuzzer's ``-timeout`` abort the child; the runner reports that.
"""
from __future__ import annotations

import json
import sys
import traceback


def main(argv: list[str]) -> None:
    import atheris

    name, findings_path = argv[1], argv[2]
    with atheris.instrument_imports(include=["sumame"]):
        from sumame.tools.fuzz.targets import make
        target = make(name)
        import importlib
        for module in target.modules:
            importlib.import_module(module)
    seen: set[tuple[str, str]] = set()

    def one_input(data: bytes) -> None:
        try:
            target.run(data)
        except target.allowed:
            pass
        except Exception as exc:        # a finding: any other exception escaping the parser
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
            key = (type(exc).__name__, where)
            if key in seen:
                return
            seen.add(key)
            with open(findings_path, "a") as fh:
                fh.write(json.dumps({"target": name, "error": type(exc).__name__,
                                     "message": str(exc)[:200], "where": where,
                                     "input": data[:512].hex()}) + "\n")

    atheris.Setup([argv[0]] + argv[3:], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
