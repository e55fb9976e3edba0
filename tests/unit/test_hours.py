"""Business hours, holidays and the next opening (sportello/domain/hours.py), and the visitor texts."""

from __future__ import annotations

import re
import string
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sportello.config import Settings
from sportello.domain.hours import BusinessHours, HoursError, parse_holidays, parse_hours, when_text
from sportello.domain.texts import TEXTS, t
from sportello.domain.validation import phone_problem

ROME = ZoneInfo("Europe/Rome")
HOURS = "mon-fri 09:00-18:00; sat 10:00-14:00"


def at(*args) -> float:
    return datetime(*args, tzinfo=ROME).timestamp()


def test_parse_days_ranges_and_italian_names():
    week = parse_hours("lun-ven 09:00-13:00 14:00-18:00; sab 10:00-14:00")
    assert week[0] == ((540, 780), (840, 1080)) and week[4] == week[0]
    assert week[5] == ((600, 840),) and 6 not in week
    assert set(parse_hours("sat-mon 10:00-24:00")) == {5, 6, 0}  # a range that wraps
    assert set(parse_hours("mon, wed 9:00-12:00")) == {0, 2}


@pytest.mark.parametrize(
    "spec",
    [
        "mon-fry 09:00-18:00",
        "mon 18:00-09:00",
        "mon 9-18",
        "mon 09:00-12:00 11:00-13:00",
        "mon 9:00-10:00; mon 11:00-12:00",
        "09:00-18:00",
        "mon 25:00-26:00",
    ],
)
def test_bad_hours_are_refused_with_a_reason(spec):
    with pytest.raises(HoursError):
        parse_hours(spec)


def test_settings_refuse_bad_hours_holidays_zone_colour_and_logo(tmp_path):
    base = {"DATA_DIR": str(tmp_path)}
    for extra in (
        {"BUSINESS_HOURS": "mon 9:00"},
        {"HOLIDAYS": "2025-13-01"},
        {"BUSINESS_HOURS": HOURS, "TIMEZONE": "Mars/Olympus"},
        {"VENUE_PRIMARY_COLOR": "red;}body{display:none"},
        {"VENUE_LOGO_URL": "javascript:alert(1)"},
        {"VENUE_LOGO_URL": 'https://x.org/a.png" onerror="alert(1)'},
        {"VENUE_LOGO_URL": "../../etc/passwd"},
        {"VENUE_NAME": "x" * 81},
    ):
        with pytest.raises(ValueError):
            Settings.from_env({**base, **extra})
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    s = Settings.from_env(
        {**base, "VENUE_LOGO_URL": "logo.png", "VENUE_PRIMARY_COLOR": "#0B5394", "VENUE_NAME": " Museo  X "}
    )
    assert s.venue_logo_url == str((tmp_path / "logo.png").resolve()) and s.venue_name == "Museo X"


def test_unset_hours_is_always_open():
    hours = BusinessHours.parse("", "", "Europe/Rome")
    assert hours.is_open(at(2025, 12, 25, 3, 0)) and hours.next_opening(at(2025, 12, 25, 3, 0)) is None


def test_open_closed_and_next_opening_over_a_weekend_and_holidays():
    hours = BusinessHours.parse(HOURS, "2025-12-25, 2025-12-26", "Europe/Rome")
    assert hours.is_open(at(2025, 6, 6, 9, 0)) and not hours.is_open(at(2025, 6, 6, 18, 0))
    assert hours.next_opening(at(2025, 6, 6, 12, 0)) is None  # open now
    # Saturday 14:00 -> Monday 9:00
    nxt = hours.next_opening(at(2025, 6, 7, 14, 30))
    assert nxt == datetime(2025, 6, 9, 9, 0, tzinfo=ROME)
    assert when_text(nxt, at(2025, 6, 7, 14, 30), "it") == "lunedì alle 9:00"
    assert when_text(nxt, at(2025, 6, 7, 14, 30), "en") == "on Monday at 9:00"
    # early morning: today
    nxt = hours.next_opening(at(2025, 6, 6, 7, 0))
    assert when_text(nxt, at(2025, 6, 6, 7, 0), "it") == "oggi alle 9:00"
    assert when_text(hours.next_opening(at(2025, 6, 5, 19, 0)), at(2025, 6, 5, 19, 0), "en") == "tomorrow at 9:00"
    # Christmas on Thursday and St Stephen's on Friday: closed, back on Saturday
    assert not hours.is_open(at(2025, 12, 25, 10, 0))
    assert hours.next_opening(at(2025, 12, 24, 18, 30)) == datetime(2025, 12, 27, 10, 0, tzinfo=ROME)
    assert parse_holidays("2025-01-01;2025-01-06 2025-08-15") == {
        datetime(2025, 1, 1).date(),
        datetime(2025, 1, 6).date(),
        datetime(2025, 8, 15).date(),
    }


def test_a_long_closure_names_the_date():
    hours = BusinessHours.parse("mon 09:00-12:00", "2025-06-09 2025-06-16", "Europe/Rome")
    nxt = hours.next_opening(at(2025, 6, 6, 12, 0))
    assert nxt == datetime(2025, 6, 23, 9, 0, tzinfo=ROME)
    assert when_text(nxt, at(2025, 6, 6, 12, 0), "it") == "il 23 giugno alle 9:00"
    assert when_text(nxt, at(2025, 6, 6, 12, 0), "en") == "on 23 June at 9:00"


def test_daylight_saving_changes_use_the_wall_clock():
    hours = BusinessHours.parse("sun 02:30-04:00; mon-sat 09:00-18:00", "", "Europe/Rome")
    # 30 March 2025: clocks jump 02:00 -> 03:00 in Rome; 02:30 does not exist that night
    nxt = hours.next_opening(at(2025, 3, 30, 1, 0))
    assert nxt == datetime(2025, 3, 30, 1, 0, tzinfo=ZoneInfo("UTC"))  # the jump, 03:00 CEST
    assert (nxt.hour, nxt.minute) == (3, 0)
    assert hours.is_open(datetime(2025, 3, 30, 1, 30, tzinfo=ZoneInfo("UTC")).timestamp())  # 03:30 CEST
    # Monday after the change: 9:00 local is 07:00 UTC (it was 08:00 UTC the week before)
    mon = hours.next_opening(at(2025, 3, 30, 5, 0))
    assert mon == datetime(2025, 3, 31, 7, 0, tzinfo=ZoneInfo("UTC"))
    assert hours.next_opening(at(2025, 3, 23, 5, 0)) == datetime(2025, 3, 24, 8, 0, tzinfo=ZoneInfo("UTC"))
    # 26 October 2025: 02:00-03:00 happens twice; opening at 09:00 is 08:00 UTC on Monday
    assert hours.next_opening(at(2025, 10, 26, 5, 0)) == datetime(2025, 10, 27, 8, 0, tzinfo=ZoneInfo("UTC"))


# ---------------------------------------------------------------------------- texts
def test_every_text_has_italian_and_english_with_the_same_fields():
    for key, entry in TEXTS.items():
        assert set(entry) == {"it", "en"}, key
        fields = [{f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f} for lang in ("it", "en")]
        assert fields[0] == fields[1], key


def test_italian_grammar_slips_of_issue_15_are_gone():
    from sportello.faces.visitor.view import UI

    every = " ".join(e["it"] for e in (*TEXTS.values(), *UI.values()))
    assert "la risponderà" not in every and "le risponderà" in every
    assert not re.search(r"ricontatteremo a \{contact\}", every)
    assert "all'indirizzo anna@example.org" in t("ticket_created_email", "it", ticket_id=3, contact="anna@example.org")
    assert "richiameremo" not in t("ticket_created_email", "it", ticket_id=3, contact="anna@example.org")
    assert "al numero +39333" in t("ticket_created_phone", "it", ticket_id=3, contact="+39333")
    assert "richiameremo" not in UI["status_contact"]["it"]  # the method is not chosen yet


def test_phone_problems_name_the_length():
    assert phone_problem("123") == "too_short"
    assert phone_problem("1" * 16) == "too_long"
    assert phone_problem("chiamami") == "characters"
    assert phone_problem("+39 06 1234 5678") is None
