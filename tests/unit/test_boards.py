"""Board files: the built-in boards load; mistakes name the file, the key and what is allowed."""
import pytest

from sumame.boards import BoardErrors, BoardNotFound, available, load_board


def test_built_in_boards_load():
    assert {"emulated-lv", "emulated-hv"} <= set(available())
    lv, hv = load_board("emulated-lv"), load_board("emulated-hv")
    assert lv.kind == "lv" and lv.meter_config().identity.has_switch
    hv_cfg = hv.meter_config()
    assert hv_cfg.scaling.coefficient == 240 and not hv_cfg.identity.has_switch
    assert hv_cfg.scaling.unit_code == 0x03


def write(tmp_path, text):
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


BASE = """
[board]
name = "x"
kind = "lv"
[identity]
route_b_id = "00112233445566778899AABBCCDDEEFF"
route_b_password = "ABCDEFGHIJKL"
supply_point = "0312345678900000000001"
[meter]
wiring = "1p3w"
"""


def test_minimal_board_gets_defaults(tmp_path):
    board = load_board(str(write(tmp_path, BASE)))
    assert board["registers"]["days_30"] == 100 and board["asic"]["driver"] == "emulated-atm90e32"


@pytest.mark.parametrize("patch, expected", [
    ("[meter]\nwiring = \"2p5w\"", "[meter] wiring: '2p5w' is not allowed; expected one of '1p2w', '1p3w', '3p3w'"),
    ("[registers]\ndays_30 = 0", "[registers] days_30: 0 must be between 1 and 3650 days"),
    ("[asic]\nmeter_constant = \"fast\"", "[asic] meter_constant: 'fast' is not a int"),
    ("[asic]\ncolour = 1", "[asic] colour: unknown key; allowed: driver,"),
    ("[turbo]\nx = 1", "[turbo]: unknown section; allowed:"),
])
def test_mistakes_name_file_key_and_allowed(tmp_path, patch, expected):
    text = BASE
    if patch.startswith("[meter]"):
        text = text.replace('wiring = "1p3w"', patch.split("\n", 1)[1])
    else:
        text += patch + "\n"
    path = write(tmp_path, text)
    with pytest.raises(BoardErrors) as err:
        load_board(str(path))
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_required_keys_are_all_listed(tmp_path):
    path = write(tmp_path, "[board]\nname = \"x\"\nkind = \"lv\"\n[identity]\n[meter]\nwiring = \"1p3w\"\n")
    with pytest.raises(BoardErrors) as err:
        load_board(str(path))
    text = str(err.value)
    for key in ("route_b_id", "route_b_password", "supply_point"):
        assert f"[identity] {key}: missing" in text


def test_bad_identity_values(tmp_path):
    path = write(tmp_path, BASE.replace("ABCDEFGHIJKL", "short").replace("0312345678900000000001", "12"))
    with pytest.raises(BoardErrors) as err:
        load_board(str(path))
    assert "12 letters or digits" in str(err.value) and "22 digits" in str(err.value)


def test_not_toml_and_unknown_board(tmp_path):
    with pytest.raises(BoardErrors, match="not valid TOML"):
        load_board(str(write(tmp_path, "[board\nname=")))
    with pytest.raises(BoardNotFound, match="built-in boards: "):
        load_board("emulated-xx")


def test_fleet_boards_share_equal_sections():
    """Boards loaded for a fleet share each section equal to one loaded before (one object),
    and keep their own where they differ (identity)."""
    from sumame.boards import load_board as load

    a = load("emulated-lv-fleet", {"identity": {"serial": "SMLV00000001"}})
    b = load("emulated-lv-fleet", {"identity": {"serial": "SMLV00000002"}})
    assert a["meter"] is b["meter"] and a["registers"] is b["registers"]
    assert a["identity"] is not b["identity"]
    assert (a["identity"]["serial"], b["identity"]["serial"]) == ("SMLV00000001", "SMLV00000002")
