"""CronJob schedules, as Kubernetes reads them (robfig/cron's standard parser): five fields
or a descriptor (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly), in the
CronJob's `timeZone` (UTC when unset). Parsing and the next times are croniter's.

`due(schedule, zone, earliest, now)` is the controller's question (Kubernetes'
mostRecentScheduleTime): the latest scheduled time in (earliest, now], how many were
missed, and the next one. Example: "*/5 * * * *", earliest 12:02, now 12:16 gives the
12:15 run, 3 times in the window (12:05, 12:10, 12:15), and 12:20 next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
TOO_MANY_MISSED = 100  # Kubernetes gives up counting (and says so) past this many


def schedule_error(schedule: str) -> str:
    """Why a schedule is not one Kubernetes accepts ("" when it is)."""
    text = schedule.strip()
    if not text:
        return "empty schedule"
    if text.startswith(("TZ=", "CRON_TZ=")):
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if text.startswith("@"):
        return "" if text in DESCRIPTORS else f"unrecognized descriptor: {text}"
    if len(text.split()) != 5:
        return f"expected exactly 5 fields, found {len(text.split())}: {text}"
    return "" if croniter.is_valid(text) else f"invalid schedule: {text}"


def zone_error(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name}"
    return ""


@dataclass(frozen=True)
class Due:
    last: datetime | None  # the most recent scheduled time in (earliest, now], if any
    missed: int  # how many scheduled times fell in that window (capped just above TOO_MANY_MISSED)
    next: datetime  # the first scheduled time after now


def due(schedule: str, zone: str | None, earliest: datetime, now: datetime) -> Due:
    tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    it = croniter(schedule.strip(), earliest.astimezone(tz))
    last, missed = None, 0
    while True:
        t = it.get_next(datetime)
        if t > now:
            return Due(last, missed, t)
        last, missed = t, missed + 1
        if missed > TOO_MANY_MISSED:  # far behind: the latest time, computed from now backwards
            back = croniter(schedule.strip(), now.astimezone(tz))
            latest = back.get_prev(datetime)
            return Due(latest, missed, croniter(schedule.strip(), now.astimezone(tz)).get_next(datetime))


def minutes(t: datetime) -> int:
    """A scheduled time as minutes since the epoch: the suffix of the Job's name."""
    return int(t.timestamp() // 60)
