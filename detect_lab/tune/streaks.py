"""How many alarms a threshold and ``consecutiveDatapointsToAlarm`` would have raised over recorded
windows, by the engine's streak rules (``evaluation.engine``), without running the engine once per
candidate.

The engine's rules, for one thing: a violating window adds to the violating streak, a normal one
resets it; ``k`` violating windows in a row raise ``in-alarm``; in alarm, ``c``
(``consecutiveDatapointsToClear``) normal windows in a row clear it. Which windows are judged:

- a cloud-side count (``fill``: ``stream_time.fills_empty``) judges a window without datapoints as
  0, which is normal for an "at most" behavior: two windows are consecutive only if they are
  adjacent in time, and every window between two recorded ones was normal;
- a device-side metric judges only the windows the agent reported in: two recorded windows are
  consecutive whatever the time between them.

So, per thing: *runs* of consecutive violating windows; runs separated by fewer than ``c`` normal
windows form one *episode* (the alarm, once raised, is not cleared in between); an episode raises
exactly one alarm if one of its runs is at least ``k`` long. Windows taken out (a labelled attack)
end an episode: what happened in them is not a normal device's.

``count_alarms`` does this with numpy for every ``k`` at once (the tuner's trade-off table, and the
SQL in ``detect_lab.sql`` the same way); ``alarm_times`` is the plain state machine, window by
window, for a few things (the attacked ones) and for the tests that hold the two to the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_CONSECUTIVE = 10


@dataclass(frozen=True)
class Series:
    """One behavior's windows, sorted by thing then start: ``thing`` codes, ``pos`` the window's place
    among its thing's recorded windows (before any was taken out), ``start`` epoch seconds, ``value``,
    ``removed`` how many of the thing's windows up to this one were taken out."""

    thing: np.ndarray
    pos: np.ndarray
    start: np.ndarray
    value: np.ndarray
    removed: np.ndarray
    duration: int
    fill: bool
    clear: int


def count_alarms(series: Series, violating: np.ndarray) -> np.ndarray:
    """Alarms for ``k`` = 1..10 (index ``k - 1``) given which windows violate."""
    index = np.flatnonzero(violating)
    counts = np.zeros(MAX_CONSECUTIVE, dtype=np.int64)
    if index.size == 0:
        return counts
    thing, pos, start, removed = series.thing[index], series.pos[index], series.start[index], series.removed[index]
    same = thing[1:] == thing[:-1]
    step = pos[1:] - pos[:-1]
    joined = same & (step == 1)
    if series.fill:
        joined &= start[1:] - start[:-1] == series.duration
    new_run = np.r_[True, ~joined]
    firsts = np.flatnonzero(new_run)
    lasts = np.r_[firsts[1:] - 1, index.size - 1]
    lengths = lasts - firsts + 1
    # Between run r (ending at lasts[r]) and run r+1 (starting at firsts[r+1]).
    a, b = lasts[:-1], firsts[1:]
    if series.fill:
        short_gap = start[b] - start[a] < (series.clear + 1) * series.duration
    else:
        short_gap = pos[b] - pos[a] - 1 < series.clear
    merged = (thing[b] == thing[a]) & (removed[b] == removed[a]) & short_gap
    episodes = np.flatnonzero(np.r_[True, ~merged])
    longest = np.maximum.reduceat(lengths, episodes)
    for k in range(1, MAX_CONSECUTIVE + 1):
        counts[k - 1] = int(np.count_nonzero(longest >= k))
    return counts


def alarm_times(
    starts: Sequence[float],
    violating: Sequence[bool],
    *,
    duration: int,
    fill: bool,
    k: int,
    clear: int,
) -> list[float]:
    """The ``in-alarm`` times (window ends) over one thing's recorded windows, in start order, window by
    window as the engine judges them (a missing window of a ``fill`` behavior judged normal)."""
    alarms: list[float] = []
    streak = normal = 0
    in_alarm = False
    previous: float | None = None
    for start, bad in zip(starts, violating, strict=True):
        if fill and previous is not None:
            missing = int((start - previous) // duration) - 1
            for _ in range(min(max(missing, 0), k + clear)):
                streak, normal = 0, normal + 1
                if in_alarm and normal >= clear:
                    in_alarm = False
        previous = start
        if bad:
            streak, normal = streak + 1, 0
            if not in_alarm and streak >= k:
                in_alarm = True
                alarms.append(start + duration)
        else:
            streak, normal = 0, normal + 1
            if in_alarm and normal >= clear:
                in_alarm = False
    return alarms
