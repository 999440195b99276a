"""Business-time arithmetic: pure functions of (calendar, instants). No clock of their own.

A calendar is open on its working days between `start` and `end` *local* time, except on the
country's public holidays (the `holidays` library) and its `closed_dates`. Local times are
resolved with `zoneinfo`, so an opening at 09:00 is 09:00 on both sides of a DST change, and a
day that loses an hour to DST is an hour shorter only if the change falls inside opening hours.
All inputs and outputs are timezone-aware; outputs are UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from baton_contracts.definitions.sla import BusinessCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SEARCH_DAYS = 3660
"""A calendar with no open day in ten years is a definitions mistake, not an infinite loop."""


class CalendarError(ValueError):
    pass


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())
    except NotImplementedError as exc:
        raise CalendarError(f"the holidays library has no country {country!r} (subdivision {subdivision!r})") from exc


@lru_cache(maxsize=1)
def _holiday_countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


def knows_country(country: str) -> bool:
    """Whether the `holidays` library has `country`'s public holidays."""
    return country in _holiday_countries()


def check_calendar(calendar: BusinessCalendar) -> None:
    """Fail fast at start-up on a country the `holidays` library does not know."""
    if calendar.country is not None:
        _public_holidays(calendar.country, calendar.subdivision, 2026)


@dataclass(frozen=True)
class Calendar:
    """A resolved business calendar, hashable and cheap to copy."""

    timezone: str
    country: str | None = None
    subdivision: str | None = None
    days: frozenset[int] = frozenset(range(5))
    start_minute: int = 9 * 60
    end_minute: int = 17 * 60
    closed: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_definition(
        cls, definition: BusinessCalendar, *, timezone: str | None = None, country: str | None = None
    ) -> Calendar:
        """`timezone`/`country` (a rep's own) replace the definition's when given."""
        hours = definition.hours
        return cls(
            timezone=timezone or definition.timezone,
            country=country or definition.country,
            subdivision=definition.subdivision if country is None or country == definition.country else None,
            days=frozenset(WEEKDAYS.index(d) for d in hours.days),
            start_minute=hours.start.hour * 60 + hours.start.minute,
            end_minute=hours.end.hour * 60 + hours.end.minute,
            closed=frozenset(definition.closed_dates),
        )

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def is_open_day(self, day: date) -> bool:
        if day.weekday() not in self.days or day in self.closed:
            return False
        return self.country is None or day not in _public_holidays(self.country, self.subdivision, day.year)

    def opening(self, day: date) -> tuple[datetime, datetime]:
        """The day's open interval in UTC (local wall times resolved through the zone's offsets)."""
        zone = self.zone
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        start = (midnight + timedelta(minutes=self.start_minute)).replace(tzinfo=zone)
        end = (midnight + timedelta(minutes=self.end_minute)).replace(tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def intervals(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) that end after `since`, clipped to start no earlier than it, in order."""
        since = _aware(since).astimezone(UTC)
        day = since.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(MAX_SEARCH_DAYS):
            if self.is_open_day(day):
                start, end = self.opening(day)
                if end > since:
                    yield max(start, since), end
            day += timedelta(days=1)
        raise CalendarError(f"calendar {self.timezone}/{self.country} has no opening within {MAX_SEARCH_DAYS} days")


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


WALL: Calendar | None = None
"""Pass `None` as the calendar for wall (calendar) time."""


def add_business_seconds(calendar: Calendar | None, start: datetime, seconds: float) -> datetime:
    """The instant when `seconds` of open time have passed since `start`.

    A start outside opening hours counts from the next opening (Fri 16:30 + 1 h → Mon 09:30 on a
    09:00-17:00 calendar). Zero seconds from a closed instant is that instant itself, not the next
    opening: nothing is owed yet. With `calendar=None`, wall time.
    """
    start = _aware(start).astimezone(UTC)
    if seconds < 0:
        raise ValueError("business seconds must not be negative")
    if calendar is None or seconds == 0:
        return start + timedelta(seconds=seconds)
    left = timedelta(seconds=seconds)
    for open_at, close_at in calendar.intervals(start):
        span = close_at - open_at
        if left <= span:
            return open_at + left
        left -= span
    raise AssertionError("unreachable: intervals() raises when it runs out")


def business_seconds_between(calendar: Calendar | None, start: datetime, end: datetime) -> float:
    """Open seconds in [start, end); 0 when `end` is not after `start`. With `calendar=None`, wall seconds."""
    start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds()
    total = 0.0
    for open_at, close_at in calendar.intervals(start):
        if open_at >= end:
            break
        total += (min(close_at, end) - open_at).total_seconds()
    return total


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    return at
