"""A-route credentials: the printed lines, the key file sumame emulate writes, and how sumame hes
finds keys (--keys, emulate's default state dirs, --derive-emulation-keys only when asked)."""
import json
import stat

import pytest

from sumame.firmware.routes.aroute.keys import derived_secrets, secrets_from_board
from sumame.tools.aroute_credentials import credential_lines, load_keys_file, write_keys_file
from sumame.tools.cli import CliError
from sumame.tools.hes.cli import MissingKeys, _keys


def test_lines_and_key_file_carry_the_meters_own_values(tmp_path):
    s = secrets_from_board("SM1", {"ek": "00" * 16, "ak": "11" * 16, "system_title": "5355AA0000000001",
                                   "lls_password": "reader-pw"})
    lines = dict(credential_lines(s))
    assert lines == {"a-route-lls-password": "reader-pw", "a-route-system-title": "5355AA0000000001",
                     "a-route-block-key": "00" * 16, "a-route-auth-key": "11" * 16}
    path = write_keys_file(tmp_path, "SM1", s)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys_file(path) == {"SM1": s}
    assert json.loads(path.read_text())["SM1"]["lls_password"] == "reader-pw"


def test_hes_reads_emulates_key_files_and_derives_only_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    custom = secrets_from_board("SM1", {"ek": "22" * 16})
    state_dir = tmp_path / "sumame" / "emulated-lv"      # sumame emulate's default state dir
    state_dir.mkdir(parents=True)
    write_keys_file(state_dir, "SM1", custom)
    lookup = _keys(None)
    assert lookup("SM1") == custom and lookup("SM1").ek != derived_secrets("SM1").ek
    with pytest.raises(MissingKeys, match="no A-route keys for meter SM2.*--derive-emulation-keys"):
        lookup("SM2")
    assert _keys(None, derive=True)("SM2") == derived_secrets("SM2")
    assert "emulation only" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CliError, match="bad.json: not a key file"):
        _keys(tmp_path / "bad.json")
