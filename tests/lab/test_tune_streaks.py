"""The tuner's alarm counting holds to the engine: for any one thing's windows, the vectorized count
(``count_alarms``), the plain state machine (``alarm_times``) and the evaluator's engine
(``evaluation.engine.evaluate``) raise the same alarms, for cloud-side counts (empty windows judged
as 0) and device-side metrics (only reported windows judged), any k and any clear count."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detect_lab.tune.streaks import MAX_CONSECUTIVE, Series, alarm_times, count_alarms
from iot_defender_runtime.evaluation.engine import IN_ALARM, BehaviorState, Datapoint, evaluate
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.metric_catalog import METRICS

DURATION = 300
LIMIT = 5  # at most 5 per window: 9 violates, 1 is normal
CLOUD, DEVICE = "aws:num-messages-sent", "aws:all-bytes-out"  # fills empty windows / judges reported ones only


def definition(metric: str, k: int, clear: int) -> BehaviorDefinition:
    return BehaviorDefinition(
        name="Limit",
        metric=metric,
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": LIMIT},
        duration_seconds=DURATION,
        consecutive_datapoints_to_alarm=k,
        consecutive_datapoints_to_clear=clear,
    )


def engine_alarms(starts: list[int], violating: list[bool], *, metric: str, k: int, clear: int) -> list[float]:
    """The engine's in-alarm times for one thing whose windows hold one datapoint each."""
    points = [Datapoint(float(s), 9 if bad else 1) for s, bad in zip(starts, violating, strict=True)]
    end = float(starts[-1] + DURATION)
    result = evaluate(
        "thing-1",
        definition(metric, k, clear),
        METRICS[metric],
        BehaviorState(),
        points,
        now=end + 60,
        settled_until=end,
        fill_empty=metric == CLOUD,
        known_since=float(starts[0]),
    )
    return [t.at for t in result.transitions if t.event_type == IN_ALARM]


def series_of(starts: list[int], violating: list[bool], removed: list[int], *, fill: bool, clear: int) -> Series:
    count = len(starts)
    return Series(
        thing=np.zeros(count, dtype=np.int64),
        pos=np.arange(count),
        start=np.asarray(starts, dtype=np.int64),
        value=np.where(np.asarray(violating), 9.0, 1.0),
        removed=np.asarray(removed, dtype=np.int64),
        duration=DURATION,
        fill=fill,
        clear=clear,
    )


windows = st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=40)  # (gap in windows, violating)


def starts_of(script: list[tuple[int, bool]]) -> tuple[list[int], list[bool]]:
    starts, t = [], 1_700_000_100 - 1_700_000_100 % DURATION
    for gap, _ in script:
        t += gap * DURATION
        starts.append(t)
    return starts, [bad for _, bad in script]


@settings(max_examples=150, deadline=None)
@given(windows, st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_counting_matches_the_engine(script: list[tuple[int, bool]], k: int, clear: int, cloud: bool) -> None:
    # Given one thing's windows (some missing) and a behavior
    starts, violating = starts_of(script)
    metric = CLOUD if cloud else DEVICE
    # When the engine judges them, and the tuner counts them
    expected = engine_alarms(starts, violating, metric=metric, k=k, clear=clear)
    plain = alarm_times(starts, violating, duration=DURATION, fill=cloud, k=k, clear=clear)
    counted = count_alarms(
        series_of(starts, violating, [0] * len(starts), fill=cloud, clear=clear), np.asarray(violating)
    )
    # Then all three raise the same alarms
    assert plain == expected
    assert counted[k - 1] == len(expected)


@settings(max_examples=100, deadline=None)
@given(windows, st.lists(st.booleans(), min_size=40, max_size=40), st.integers(1, 3), st.booleans())
def test_windows_taken_out_end_an_episode(
    script: list[tuple[int, bool]], cuts: list[bool], clear: int, cloud: bool
) -> None:
    # Given windows with some taken out (an attack's): a run or episode never spans them
    starts, violating = starts_of(script)
    taken = cuts[: len(starts)]
    kept = [i for i, cut in enumerate(taken) if not cut]
    removed = list(np.cumsum(taken))
    series = series_of(starts, violating, removed, fill=cloud, clear=clear)
    keep = np.asarray(kept, dtype=np.int64)
    kept_series = Series(
        series.thing[keep],
        series.pos[keep],
        series.start[keep],
        series.value[keep],
        series.removed[keep],
        DURATION,
        cloud,
        clear,
    )
    counted = count_alarms(kept_series, np.asarray(violating)[keep] if kept else np.zeros(0, dtype=bool))
    # Then the count is the sum over the stretches between the windows taken out, each from a clean state
    for k in range(1, MAX_CONSECUTIVE + 1):
        total, stretch = 0, []
        for i in range(len(starts) + 1):
            if i == len(starts) or taken[i]:
                if stretch:
                    s = [starts[j] for j in stretch]
                    v = [violating[j] for j in stretch]
                    total += len(alarm_times(s, v, duration=DURATION, fill=cloud, k=k, clear=clear))
                stretch = []
            else:
                stretch.append(i)
        assert counted[k - 1] == total


def test_two_things_never_share_a_run() -> None:
    # Given two things each with one violating window, adjacent in the sorted series
    series = Series(
        thing=np.array([0, 1]),
        pos=np.array([0, 0]),
        start=np.array([0, 300]),
        value=np.array([9.0, 9.0]),
        removed=np.array([0, 0]),
        duration=DURATION,
        fill=True,
        clear=1,
    )
    # Then k=2 raises nothing, k=1 two alarms
    counts = count_alarms(series, np.array([True, True]))
    assert (counts[0], counts[1]) == (2, 0)
