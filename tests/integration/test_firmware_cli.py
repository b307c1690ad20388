"""`sumame firmware keygen|build|sign|inspect`: an image built and signed here verifies on a meter's terms."""
import json

import pytest

from sumame.firmware.lifecycle.image import Policy, verify_image
from sumame.tools.cli import main

pytestmark = pytest.mark.lifecycle


def test_build_sign_inspect(tmp_path, capsys):
    key, raw, signed = tmp_path / "r.pem", tmp_path / "fw.img", tmp_path / "fw.s.img"
    assert main(["firmware", "keygen", "--out", str(key)]) == 0
    public = capsys.readouterr().out.split()[2]
    assert main(["firmware", "build", "--target", "hv", "--version", "2.1.0", "--security-version", "4",
                 "--build-id", "ci-42", "--out", str(raw)]) == 0
    assert main(["firmware", "inspect", str(raw), "--public-key", public]) == 1
    assert "unsigned" in capsys.readouterr().out
    assert main(["firmware", "sign", str(raw), "--key", str(key), "--out", str(signed)]) == 0
    capsys.readouterr()
    assert main(["firmware", "inspect", str(signed), "--public-key", public, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["target"], info["version"], info["security_version"], info["build_id"], info["verdict"]) == \
        ("hv", "2.1.0", 4, "ci-42", "valid")
    header = verify_image(signed.read_bytes(), Policy("hv", (bytes.fromhex(public),)))
    assert header.payload_size > 50_000                    # the real application bundle
    assert main(["firmware", "inspect", str(signed), "--public-key", public, "--floor", "5"]) == 1
    assert "downgrade" in capsys.readouterr().out
    assert main(["firmware", "inspect", str(signed)]) == 1   # emulation key only: not trusted
    capsys.readouterr()


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["firmware", "inspect", str(tmp_path / "none.img")]) == 2
    assert main(["firmware", "build", "--target", "lv", "--version", "1", "--security-version", "1",
                 "--out", str(tmp_path / "x")]) == 2
    (tmp_path / "junk").write_bytes(b"not an image")
    assert main(["firmware", "sign", str(tmp_path / "junk"), "--emulation-key"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("sumame firmware: error:") for line in err)
