"""The period a report covers: [from, to), with day boundaries in a time zone (Asia/Shanghai)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"
MAX_DAYS = 400  # a year and a bit: enough for annual figures, bounded for the database


class PeriodError(ValueError):
    """A bad from/to/tz, with the name of the parameter in the message."""


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC, exclusive
    zone: tzinfo

    def as_of(self, now: datetime) -> datetime:
        """The moment the state-based figures are taken: the period's end, or now if earlier.
        A report on a past week then gives the same answer whenever it is asked."""
        return min(self.end, now)


def parse_zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"tz: unknown time zone {name!r}") from None


def parse_moment(text: str, zone: tzinfo, field: str) -> datetime:
    """`2026-11-23` (midnight in `zone`) or an ISO 8601 time with an offset."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), zone).astimezone(UTC)
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    except ValueError:
        raise PeriodError(f"{field}: {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    except OverflowError:  # 0001-01-01 in a zone east of UTC is before the first datetime
        raise PeriodError(f"{field}: {text!r} is out of range") from None


def parse_period(
    start: str | None, end: str | None, zone_name: str | None, now: datetime
) -> Period:
    """Defaults: `to` is the end of today in `zone`, `from` seven days before `to`."""
    zone = parse_zone(zone_name)
    if end:
        end_at = parse_moment(end, zone, "to")
    else:
        today = now.astimezone(zone).date()
        end_at = datetime.combine(today + timedelta(days=1), time(), zone).astimezone(UTC)
    start_at = parse_moment(start, zone, "from") if start else end_at - timedelta(days=7)
    if start_at >= end_at:
        raise PeriodError("from: must be before to (the period is [from, to))")
    if end_at - start_at > timedelta(days=MAX_DAYS):
        raise PeriodError(f"from: the period is longer than {MAX_DAYS} days")
    return Period(start_at, end_at, zone)
