"""Business-time arithmetic: weekends, holidays, DST, both sides of the date line, properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_contracts.definitions.sla import BusinessCalendar, WorkingHours
from baton_sla_monitor.calendars import Calendar, CalendarError, add_business_seconds, business_seconds_between

NY = ZoneInfo("America/New_York")
HOUR = 3600


def calendar(timezone: str = "America/New_York", country: str | None = None, **hours: object) -> Calendar:
    return Calendar.from_definition(
        BusinessCalendar(timezone=timezone, country=country, hours=WorkingHours(**hours))  # type: ignore[arg-type]
    )


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def test_friday_1630_plus_one_business_hour_is_monday_0930() -> None:
    cal = calendar()
    due = add_business_seconds(cal, local("America/New_York", 2026, 11, 20, 16, 30), HOUR)
    assert due == local("America/New_York", 2026, 11, 23, 9, 30)


def test_clock_started_on_saturday_starts_at_monday_opening() -> None:
    due = add_business_seconds(calendar(), local("America/New_York", 2026, 11, 21, 11, 0), 30 * 60)
    assert due == local("America/New_York", 2026, 11, 23, 9, 30)


def test_before_opening_counts_from_opening_same_day() -> None:
    due = add_business_seconds(calendar(), local("America/New_York", 2026, 11, 24, 7, 0), 4 * HOUR)
    assert due == local("America/New_York", 2026, 11, 24, 13, 0)


def test_target_spanning_several_days_skips_nights() -> None:
    due = add_business_seconds(calendar(), local("America/New_York", 2026, 11, 17, 15, 0), 24 * HOUR)
    # 2 h Tue, 8 h Wed, Thu, 6 h Fri → Fri 15:00
    assert due == local("America/New_York", 2026, 11, 20, 15, 0)


def test_us_public_holiday_is_skipped() -> None:
    # Thanksgiving 2026 is Thu 26 Nov.
    due = add_business_seconds(calendar(country="US"), local("America/New_York", 2026, 11, 25, 16, 0), 2 * HOUR)
    assert due == local("America/New_York", 2026, 11, 27, 10, 0)


def test_custom_closed_date_is_skipped() -> None:
    cal = Calendar.from_definition(BusinessCalendar(timezone="America/New_York", closed_dates=[date(2026, 11, 24)]))
    due = add_business_seconds(cal, local("America/New_York", 2026, 11, 23, 16, 0), 2 * HOUR)
    assert due == local("America/New_York", 2026, 11, 25, 10, 0)


def test_country_from_rep_replaces_calendar_country() -> None:
    definition = BusinessCalendar(timezone="Europe/Paris", country="US")
    cal = Calendar.from_definition(definition, country="FR")
    assert not cal.is_open_day(date(2026, 7, 14))  # Bastille Day
    assert cal.is_open_day(date(2026, 7, 3))  # US Independence Day observed: open in France


def test_unknown_country_is_refused() -> None:
    cal = Calendar(timezone="UTC", country="XX")
    with pytest.raises(CalendarError):
        cal.is_open_day(date(2026, 1, 5))


def test_opening_is_0900_local_on_both_sides_of_spring_forward() -> None:
    cal = calendar()
    before = cal.opening(date(2026, 3, 6))
    after = cal.opening(date(2026, 3, 9))
    assert before[0] == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)  # EST, UTC-5
    assert after[0] == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # EDT, UTC-4


def test_fall_back_weekend_does_not_change_business_hours() -> None:
    start = local("America/New_York", 2026, 10, 30, 16, 0)  # Friday before DST ends on Sun 1 Nov
    due = add_business_seconds(calendar(), start, 2 * HOUR)
    assert due == local("America/New_York", 2026, 11, 2, 10, 0)
    assert business_seconds_between(calendar(), start, due) == 2 * HOUR


def test_dst_change_inside_opening_hours_shortens_the_day() -> None:
    # A 00:00-24:00 calendar on the spring-forward Sunday in New York is 23 hours long.
    cal = calendar(days=["sun"], start=time(0, 0), end=time(23, 59))
    day_open, day_close = cal.opening(date(2026, 3, 8))
    assert (day_close - day_open) == timedelta(hours=22, minutes=59)


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Kiritimati (UTC+14) and Pago Pago (UTC-11): the same instant is Saturday in one, Friday in the other.
        ("Pacific/Kiritimati", (2026, 11, 21, 5, 0), (2026, 11, 23, 10, 0)),
        ("Pacific/Pago_Pago", (2026, 11, 20, 16, 30), (2026, 11, 23, 9, 30)),
        ("Pacific/Auckland", (2026, 11, 20, 16, 30), (2026, 11, 23, 9, 30)),
    ],
)
def test_time_zones_on_both_sides_of_the_date_line(
    zone: str, start: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    due = add_business_seconds(calendar(zone), local(zone, *start), HOUR)
    assert due == local(zone, *expected)


def test_date_line_same_instant_different_local_day() -> None:
    instant = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Sat 05:00 Kiritimati, Fri 04:00 Pago Pago
    east = add_business_seconds(calendar("Pacific/Kiritimati"), instant, HOUR)
    west = add_business_seconds(calendar("Pacific/Pago_Pago"), instant, HOUR)
    assert east.astimezone(ZoneInfo("Pacific/Kiritimati")).weekday() == 0
    assert west.astimezone(ZoneInfo("Pacific/Pago_Pago")) == local("Pacific/Pago_Pago", 2026, 11, 20, 10, 0)


def test_wall_time_when_calendar_is_none() -> None:
    start = local("America/New_York", 2026, 11, 20, 16, 30)
    assert add_business_seconds(None, start, HOUR) == start + timedelta(hours=1)
    assert business_seconds_between(None, start, start + timedelta(hours=3)) == 3 * HOUR


def test_zero_seconds_from_a_closed_instant_is_that_instant() -> None:
    start = local("America/New_York", 2026, 11, 21, 12, 0)
    assert add_business_seconds(calendar(), start, 0) == start


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_seconds(calendar(), datetime(2026, 11, 20, 12, 0), HOUR)


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
zones = st.sampled_from(["America/New_York", "Europe/Paris", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"])
countries = st.sampled_from([None, "US", "FR", "GB", "IN"])


@settings(max_examples=150, deadline=None)
@given(start=instants, seconds=st.integers(min_value=0, max_value=200 * HOUR), zone=zones, country=countries)
def test_adding_then_measuring_gives_back_the_business_seconds(
    start: datetime, seconds: int, zone: str, country: str | None
) -> None:
    cal = calendar(zone, country)
    due = add_business_seconds(cal, start, seconds)
    assert due >= start
    assert business_seconds_between(cal, start, due) == pytest.approx(seconds, abs=1e-3)


@settings(max_examples=100, deadline=None)
@given(start=instants, a=st.integers(0, 50 * HOUR), b=st.integers(0, 50 * HOUR), zone=zones)
def test_adding_is_monotonic_and_composes(start: datetime, a: int, b: int, zone: str) -> None:
    cal = calendar(zone)
    low, high = sorted((a, b))
    assert add_business_seconds(cal, start, low) <= add_business_seconds(cal, start, high)
    if low > 0:
        assert add_business_seconds(cal, add_business_seconds(cal, start, low), high) == add_business_seconds(
            cal, start, low + high
        )


@settings(max_examples=100, deadline=None)
@given(start=instants, seconds=st.integers(1, 100 * HOUR), zone=zones)
def test_business_due_is_never_earlier_than_wall_due(start: datetime, seconds: int, zone: str) -> None:
    assert add_business_seconds(calendar(zone), start, seconds) >= add_business_seconds(None, start, seconds)
