"""The pure evaluation engine, table-driven: operators, windows, streaks, clears, invalidation,
statistical thresholds, late, duplicate and future datapoints."""

from __future__ import annotations

import pytest

from iot_defender_runtime.evaluation.criteria import meets, percentile
from iot_defender_runtime.evaluation.engine import (
    ALARM_CLEARED,
    ALARM_INVALIDATED,
    IN_ALARM,
    RECENT_WINDOWS,
    BehaviorState,
    Datapoint,
    check_silence,
    evaluate,
)
from iot_defender_runtime.evaluation.fleet import fleet_thresholds
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.metric_catalog import METRICS

SENT = METRICS["aws:num-messages-sent"]
SIZE = METRICS["aws:message-byte-size"]


def messages_at_most(limit: int, *, to_alarm: int = 1, to_clear: int = 1) -> BehaviorDefinition:
    return BehaviorDefinition(
        name="Storm",
        metric=SENT.name,
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": limit},
        duration_seconds=300,
        consecutive_datapoints_to_alarm=to_alarm,
        consecutive_datapoints_to_clear=to_clear,
    )


def window_totals(*totals: int, start: float = 0.0) -> list[Datapoint]:
    """One datapoint per 5-minute window carrying that window's total."""
    return [Datapoint(start + 300 * index + 10, total, f"d{index}") for index, total in enumerate(totals)]


@pytest.mark.parametrize(
    ("operator", "criteria", "value", "normal"),
    [
        ("less-than", {"count": 5}, 4, True),
        ("less-than", {"count": 5}, 5, False),
        ("less-than-equals", {"count": 5}, 5, True),
        ("greater-than", {"count": 5}, 5, False),
        ("greater-than-equals", {"count": 5}, 5, True),
        ("greater-than", {"number": 1.5}, 2.0, True),
        ("in-cidr-set", {"cidrs": ["10.0.0.0/8"]}, "10.1.2.3", True),
        ("in-cidr-set", {"cidrs": ["10.0.0.0/8"]}, "192.168.1.1", False),
        ("not-in-cidr-set", {"cidrs": ["10.0.0.0/8"]}, ["192.168.1.1", "10.0.0.1"], False),
        ("not-in-cidr-set", {"cidrs": ["10.0.0.0/8"]}, "192.168.1.1:443", True),
        ("in-port-set", {"ports": [443, 8883]}, [443], True),
        ("in-port-set", {"ports": [443, 8883]}, [443, 23], False),
        ("not-in-port-set", {"ports": [23]}, [443], True),
        ("in-set", {"strings": ["a", "b"]}, ["a"], True),
        ("not-in-set", {"numbers": [1, 2]}, [2], False),
    ],
)
def test_operators(operator, criteria, value, normal):
    assert meets(operator, criteria, value) is normal


@pytest.mark.parametrize(
    ("statistic", "values", "expected"),
    [("p50", [1, 2, 3, 4], 2), ("p90", list(range(1, 11)), 9), ("p100", [3, 1, 2], 3), ("p0", [3, 1, 2], 1)],
)
def test_percentile_nearest_rank(statistic, values, expected):
    assert percentile(values, statistic) == expected


def test_counts_are_summed_per_window_and_judged_once_the_window_has_settled():
    # Given 60 + 50 messages in one window (limit 100), then a datapoint in the next window
    datapoints = [Datapoint(10, 60, "a"), Datapoint(200, 50, "b"), Datapoint(310, 1, "c")]
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), datapoints, now=320)
    # Then the first window (110 > 100) raises in-alarm with its total; the second stays open
    [transition] = result.transitions
    assert (transition.event_type, transition.metric_value, transition.at) == (IN_ALARM, {"count": 110}, 300)
    assert result.state.open_windows == ((300, 1),)


def test_an_open_window_is_judged_once_now_passes_its_end():
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), [Datapoint(10, 150, "a")], now=299)
    assert result.transitions == ()
    later = evaluate("t", messages_at_most(100), SENT, result.state, [], now=300)
    assert [t.event_type for t in later.transitions] == [IN_ALARM]


@pytest.mark.parametrize(
    ("totals", "to_alarm", "to_clear", "events"),
    [
        ((150,), 1, 1, [IN_ALARM]),
        ((150,), 2, 1, []),
        ((150, 150), 2, 1, [IN_ALARM]),
        ((150, 50, 150), 2, 1, []),  # the streak is broken by a normal window
        ((150, 50), 1, 1, [IN_ALARM, ALARM_CLEARED]),
        ((150, 50), 1, 2, [IN_ALARM]),
        ((150, 50, 50), 1, 2, [IN_ALARM, ALARM_CLEARED]),
        ((150, 50, 150, 50, 50), 1, 2, [IN_ALARM, ALARM_CLEARED]),
        ((150, 50, 150), 1, 1, [IN_ALARM, ALARM_CLEARED, IN_ALARM]),
    ],
)
def test_consecutive_datapoints_to_alarm_and_to_clear(totals, to_alarm, to_clear, events):
    definition = messages_at_most(100, to_alarm=to_alarm, to_clear=to_clear)
    result = evaluate("t", definition, SENT, BehaviorState(), window_totals(*totals), now=300 * len(totals) + 1)
    assert [t.event_type for t in result.transitions] == events


def test_clear_carries_the_violation_id_of_its_alarm_and_a_new_alarm_gets_a_new_one():
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(150, 50, 150), now=901)
    alarm, clear, again = result.transitions
    assert alarm.violation_id == clear.violation_id != again.violation_id
    assert all(c.isalnum() or c == "-" for c in alarm.violation_id)


def test_violation_id_is_the_same_when_the_same_datapoints_are_evaluated_again():
    first = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(150), now=301)
    second = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(150), now=301)
    assert first.transitions == second.transitions


def test_in_alarm_thing_that_stops_reporting_is_invalidated():
    alarmed = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(150), now=301).state
    assert check_silence("t", messages_at_most(100), alarmed, now=10 + 3599, silence_seconds=3600).transitions == ()
    result = check_silence("t", messages_at_most(100), alarmed, now=10 + 3600, silence_seconds=3600)
    [transition] = result.transitions
    assert (transition.event_type, transition.violation_id) == (ALARM_INVALIDATED, alarmed.violation_id)
    assert result.state.in_alarm is False


def test_silence_of_a_normal_thing_raises_nothing():
    normal = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(10), now=301).state
    assert check_silence("t", messages_at_most(100), normal, now=99_999, silence_seconds=3600).transitions == ()


def test_late_datapoints_for_a_judged_window_are_dropped_and_counted():
    state = evaluate("t", messages_at_most(100), SENT, BehaviorState(), [Datapoint(310, 1, "b")], now=320).state
    result = evaluate("t", messages_at_most(100), SENT, state, [Datapoint(20, 500, "a")], now=330)
    assert (result.late, result.transitions, result.state.open_windows) == (1, (), ((300, 1),))


def test_out_of_order_datapoints_in_one_batch_are_sorted_first():
    datapoints = [Datapoint(200, 60, "b"), Datapoint(10, 50, "a")]
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), datapoints, now=301)
    assert [t.metric_value for t in result.transitions] == [{"count": 110}]


def test_duplicate_datapoints_are_counted_once():
    datapoints = [Datapoint(10, 60, "same"), Datapoint(10, 60, "same")]
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), datapoints, now=301)
    assert (result.duplicates, result.transitions) == (1, ())


def test_datapoints_from_the_future_beyond_the_allowed_skew_are_dropped():
    datapoints = [Datapoint(1000 + 61, 500, "far"), Datapoint(1000 + 59, 5, "near")]
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), datapoints, now=1000)
    assert (result.future, result.state.open_windows) == (1, ((900, 5),))


def test_per_message_metrics_are_judged_datapoint_by_datapoint():
    definition = BehaviorDefinition(
        name="Size",
        metric=SIZE.name,
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": 1024},
    )
    result = evaluate("t", definition, SIZE, BehaviorState(), [Datapoint(1, 100, "a"), Datapoint(2, 4096, "b")], now=3)
    [transition] = result.transitions
    assert (transition.event_type, transition.metric_value, result.judged) == (IN_ALARM, {"count": 4096}, 2)


def test_statistical_behavior_uses_the_fleet_threshold():
    definition = BehaviorDefinition(
        name="LikeFleet",
        metric=SENT.name,
        kind=BehaviorKind.STATISTICAL,
        comparison_operator="less-than-equals",
        statistic="p90",
        duration_seconds=300,
    )
    fleet = percentile([10, 12, 11, 9, 10, 13, 10, 11, 12, 200], "p90")
    assert fleet == 13
    normal = evaluate("t", definition, SENT, BehaviorState(), window_totals(12), now=301, threshold=fleet)
    outlier = evaluate("t", definition, SENT, BehaviorState(), window_totals(200), now=301, threshold=fleet)
    assert (normal.transitions, [t.event_type for t in outlier.transitions]) == ((), [IN_ALARM])


def test_streaks_stop_growing_for_a_steady_normal_thing():
    steady = evaluate(
        "t", messages_at_most(100, to_clear=2), SENT, BehaviorState(), window_totals(1, 1, 1, 1), now=1201
    )
    assert steady.state.normal_streak == 2


def test_a_datapoint_for_a_window_judged_in_an_earlier_run_is_late():
    judged = evaluate("t", messages_at_most(100), SENT, BehaviorState(), [Datapoint(10, 5, "a")], now=301)
    assert judged.state.open_windows == () and judged.state.judged_until == 300
    again = evaluate("t", messages_at_most(100), SENT, judged.state, [Datapoint(20, 500, "z")], now=302)
    assert (again.late, again.transitions, again.changed) == (1, (), False)


def like_the_fleet(statistic: str = "p90") -> BehaviorDefinition:
    return BehaviorDefinition(
        name="LikeFleet",
        metric=SENT.name,
        kind=BehaviorKind.STATISTICAL,
        comparison_operator="less-than-equals",
        statistic=statistic,
        duration_seconds=300,
    )


@pytest.mark.parametrize(
    ("fleet", "total", "events", "unjudged"),
    [
        ({0: 13}, 12, [], 0),  # window 300 judged against window 0's p90: normal
        ({0: 13}, 200, [IN_ALARM], 0),  # an outlier
        ({0: 13, 300: 500}, 200, [IN_ALARM], 0),  # window 300's own percentile is not used for window 300
        ({-300: 1000, 0: 13}, 200, [IN_ALARM], 0),  # the latest earlier window wins
        ({-300: 13}, 200, [IN_ALARM], 0),  # an older window when the previous one is missing
        ({}, 200, [], 1),  # no fleet percentile yet: closed, not judged
        ({300: 13}, 200, [], 1),  # only a percentile of the same window: not judged
    ],
)
def test_statistical_window_is_judged_against_the_latest_earlier_fleet_percentile(fleet, total, events, unjudged):
    result = evaluate(
        "t", like_the_fleet(), SENT, BehaviorState(), window_totals(total, start=300), now=601, fleet=fleet
    )
    assert [t.event_type for t in result.transitions] == events
    assert (result.unjudged, result.state.closed) == (unjudged, ((300, total),))


def test_statistical_behavior_keeps_only_its_last_closed_windows_for_the_fleet():
    result = evaluate("t", like_the_fleet(), SENT, BehaviorState(), window_totals(1, 2, 3, 4, 5), now=1501)
    assert len(result.state.closed) == RECENT_WINDOWS == 3
    assert result.state.closed == ((600, 3), (900, 4), (1200, 5))


def test_rule_behaviors_keep_no_closed_windows():
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(1, 2), now=601)
    assert result.state.closed == ()


def sizes_at_most(limit: int) -> BehaviorDefinition:
    return BehaviorDefinition(
        name="Size",
        metric=SIZE.name,
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": limit},
    )


def test_a_steady_normal_thing_on_a_per_message_metric_needs_no_state_write():
    first = evaluate("t", sizes_at_most(1024), SIZE, BehaviorState(), [Datapoint(1, 100, "a")], now=2)
    assert first.changed  # a new thing: its first judgement is stored
    steady = evaluate("t", sizes_at_most(1024), SIZE, first.state, [Datapoint(3, 200, "b")], now=4)
    assert (steady.judged, steady.changed) == (1, False)
    violating = evaluate("t", sizes_at_most(1024), SIZE, first.state, [Datapoint(3, 4096, "c")], now=4)
    assert violating.changed and violating.state.seen_ids == ("a", "c")


def test_a_thing_in_alarm_on_a_per_message_metric_stores_every_datapoint_time_for_the_silence_check():
    alarmed = evaluate("t", sizes_at_most(1024), SIZE, BehaviorState(), [Datapoint(1, 4096, "a")], now=2).state
    again = evaluate("t", sizes_at_most(1024), SIZE, alarmed, [Datapoint(5, 4096, "b")], now=6)
    assert again.changed and again.state.last_datapoint_at == 5


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (359, {}),  # window 0 ends at 300 and settles 60 s later
        (360, {0.0: (12, 10)}),
        (959, {0.0: (12, 10), 300.0: (5, 1)}),
    ],
)
def test_fleet_percentile_of_each_settled_window(now, expected):
    closed = [(0.0, v) for v in (10, 12, 11, 9, 10, 12, 10, 11, 12, 200)] + [(300.0, 5), (600.0, 7)]
    # p90 of ten things is the 9th smallest; window 600 settles at 960
    found = fleet_thresholds(closed, "p90", duration_seconds=300, now=now, settle_seconds=60)
    assert found == expected


def test_fleet_percentiles_keep_the_latest_windows():
    closed = [(300.0 * index, index) for index in range(6)]
    found = fleet_thresholds(closed, "p50", duration_seconds=300, now=10_000, settle_seconds=60, keep=2)
    assert found == {1200.0: (4, 1), 1500.0: (5, 1)}


# Delivery: the datapoint's time decides its window, the settled bound decides when it is judged.


@pytest.mark.parametrize(
    ("batches", "events"),
    [
        # (datapoints of the batch, settled_until of the batch) ...; limit 5 failures per 5 minutes
        ([([(290, 4)], 250), ([(295, 4)], 255), ([], 360)], [IN_ALARM]),  # split batches, then settled
        # arrived 5 s and 8 s after the window end (settled: arrival less the 60 s skew)
        ([([(290, 4)], 245), ([(295, 4)], 248), ([], 360)], [IN_ALARM]),
        # the next window started before the first settled: both judged in order
        ([([(290, 4), (310, 1)], 245), ([(295, 4)], 248), ([], 660)], [IN_ALARM, ALARM_CLEARED]),
        ([([(295, 4)], 2000), ([(298, 4)], 2000)], []),  # the window settled before the second half: late
        ([([(290, 4), (295, 4)], 360)], [IN_ALARM]),  # one batch
    ],
)
def test_a_window_is_judged_once_settled_whatever_batches_its_datapoints_came_in(batches, events):
    definition = BehaviorDefinition(
        name="Probing",
        metric="aws:num-authorization-failures",
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": 5},
        duration_seconds=300,
    )
    spec = METRICS["aws:num-authorization-failures"]
    state, seen = BehaviorState(), []
    for number, (datapoints, settled) in enumerate(batches):
        points = [Datapoint(t, v, f"{number}-{i}") for i, (t, v) in enumerate(datapoints)]
        result = evaluate("t", definition, spec, state, points, now=settled + 60, settled_until=settled)
        state, seen = result.state, seen + [t.event_type for t in result.transitions]
    assert seen == events


def messages_at_least(minimum: int, *, to_alarm: int = 1, to_clear: int = 1) -> BehaviorDefinition:
    return BehaviorDefinition(
        name="Heartbeat",
        metric=SENT.name,
        kind=BehaviorKind.RULE,
        comparison_operator="greater-than-equals",
        value={"count": minimum},
        duration_seconds=300,
        consecutive_datapoints_to_alarm=to_alarm,
        consecutive_datapoints_to_clear=to_clear,
    )


@pytest.mark.parametrize(
    ("definition", "datapoints", "settled", "events", "judged_until"),
    [
        # A connected device that stops sending: the empty windows count as 0 and raise the alarm
        (messages_at_least(1), [(10, 3)], 900, [IN_ALARM], 900),
        (messages_at_least(1, to_alarm=2), [(10, 3)], 600, [], 600),
        (messages_at_least(1, to_alarm=2), [(10, 3)], 900, [IN_ALARM], 900),
        # 0 is normal and the thing is normal: nothing to judge, nothing written
        (messages_at_most(100), [], 900, [], None),
        # A thing never seen on this metric: nothing before now is judged (not from before it was known)
        (messages_at_least(1, to_alarm=2), [], 30_000, [], 30_300),
    ],
)
def test_empty_windows_of_a_cloud_side_count_are_judged_as_zero(definition, datapoints, settled, events, judged_until):
    points = [Datapoint(t, v, f"d{i}") for i, (t, v) in enumerate(datapoints)]
    result = evaluate("t", definition, SENT, BehaviorState(), points, now=settled, fill_empty=True)
    assert [t.event_type for t in result.transitions] == events
    assert result.state.judged_until == judged_until


def test_a_thing_that_never_sends_alarms_only_after_it_has_been_known_for_the_windows_to_alarm():
    # Known at 30_000 (settled bound): its first whole window is [30_300, 30_600)
    known = evaluate("t", messages_at_least(1, to_alarm=2), SENT, BehaviorState(), [], now=30_000, fill_empty=True)
    assert (known.transitions, known.state.judged_until) == ((), 30_300)
    one = evaluate("t", messages_at_least(1, to_alarm=2), SENT, known.state, [], now=30_600, fill_empty=True)
    two = evaluate("t", messages_at_least(1, to_alarm=2), SENT, one.state, [], now=30_900, fill_empty=True)
    assert (one.transitions, [t.event_type for t in two.transitions]) == ((), [IN_ALARM])


@pytest.mark.parametrize("first_contact", [30_030, 30_100, 30_299])
def test_a_new_thing_is_not_judged_for_a_window_before_its_first_datapoint(first_contact):
    # First contact (a connection) inside window [30_000, 30_300), settled bound a skew earlier: the
    # first window judged empty is the next whole one, never one before the thing was known
    known = evaluate(
        "t", messages_at_least(1), SENT, BehaviorState(), [], now=first_contact, settled_until=first_contact - 60,
        fill_empty=True, known_since=first_contact,
    )  # fmt: skip
    assert (known.transitions, known.state.judged_until) == ((), 30_300)


def test_a_long_gap_judges_only_the_windows_that_change_the_state():
    alarmed = evaluate("t", messages_at_least(1), SENT, BehaviorState(), [Datapoint(10, 3)], now=900, fill_empty=True)
    assert alarmed.judged == 3  # the window with datapoints, then two empty ones (to alarm + to clear)
    later = evaluate("t", messages_at_least(1), SENT, alarmed.state, [], now=90_000, fill_empty=True)
    assert (later.judged, later.transitions, later.state.judged_until) == (2, (), 90_000)


def test_device_side_windows_without_a_report_are_not_judged():
    result = evaluate("t", messages_at_least(1), SENT, BehaviorState(), [Datapoint(10, 3)], now=900)
    assert (result.judged, result.state.judged_until) == (1, 900)  # the state is written: settled windows are done


def test_a_window_total_never_overflows_the_api_count():
    huge = [Datapoint(10, 1.7e308, "a"), Datapoint(20, 1.7e308, "b")]
    result = evaluate("t", messages_at_most(100), SENT, BehaviorState(), huge, now=301)
    [transition] = result.transitions
    assert transition.metric_value == {"count": 2**64 - 2048}


@pytest.mark.parametrize(
    ("last_activity", "now", "invalidated"),
    [
        (None, 10 + 172_799, False),  # the behavior's own last datapoint, two days less a second
        (None, 10 + 172_800, True),
        (100_000, 10 + 172_800, False),  # the device still reports other metrics
        (100_000, 100_000 + 172_800, True),
    ],
)
def test_silence_is_counted_from_the_devices_last_datapoint(last_activity, now, invalidated):
    alarmed = evaluate("t", messages_at_most(100), SENT, BehaviorState(), window_totals(150), now=301).state
    result = check_silence(
        "t", messages_at_most(100), alarmed, now=now, silence_seconds=172_800, last_activity=last_activity
    )
    assert bool(result.transitions) is invalidated
    if invalidated:
        assert (result.state.in_alarm, result.state.judged_until, result.state.open_windows) == (False, None, ())
