"""Supply/receiving point numbers (public rules: 22 digits, area 01..10; sumame's own Luhn check
digit, since no check-digit rule is published) and the MDMS rate limiter."""
import pytest

from sumame.tools.fleet.fleet import receiving_point_of, supply_point_of
from sumame.tools.hes.mdms.access import TokenBucket
from sumame.tools.hes.mdms.ids import NumberError, grouped, luhn_digit, make_number, parse


def test_luhn_digit_matches_the_textbook_example():
    assert luhn_digit("7992739871") == "3"       # the classic worked example of the Luhn algorithm
    assert luhn_digit("0") == "0"


def test_made_numbers_are_22_digits_with_area_and_check_digit():
    n = make_number(3, 123)
    assert len(n) == 22 and n.startswith("03") and parse(n).sumame_check_ok and parse(n).area == "Tokyo"
    for i in range(50):
        for number in (supply_point_of(i), receiving_point_of(2 * i)):
            assert parse(number).sumame_check_ok
    assert supply_point_of(1) != receiving_point_of(0) and receiving_point_of(1) == ""
    assert grouped(n).count(" ") == 5


def test_every_single_digit_error_is_caught_by_the_check_digit():
    n = make_number(9, 987654321)
    for pos in range(22):
        for d in "0123456789":
            if d != n[pos]:
                wrong = n[:pos] + d + n[pos + 1:]
                if wrong[:2] in {f"{a:02d}" for a in range(1, 11)}:
                    assert not parse(wrong).sumame_check_ok


@pytest.mark.parametrize("text, reason", [("123", "22 digits"), ("03" + "x" * 20, "22 digits"),
                                          ("9900000000000000000000", "area 99"), ("", "22 digits"),
                                          ("０３" + "0" * 20, "22 digits")])
def test_bad_numbers_say_why(text, reason):
    with pytest.raises(NumberError, match=reason):
        parse(text)


def test_a_real_style_number_without_our_check_digit_is_accepted_but_marked():
    p = parse("0312345678900000000001")      # the emulated-lv board's number
    assert p.area == "Tokyo" and p.sumame_check_ok is False


def test_token_bucket_allows_burst_then_rate():
    now = [0.0]
    b = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [b.take("a") for _ in range(3)] == [0, 0, 0]
    assert b.take("a") == pytest.approx(0.5)
    assert b.take("other") == 0                # per party
    now[0] += 0.5
    assert b.take("a") == 0 and b.take("a") > 0
