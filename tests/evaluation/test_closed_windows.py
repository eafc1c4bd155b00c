"""The windows an evaluation closes (the window history's rows): one per judged window, with its
aggregate and verdict, empty windows filled as 0 included, and statistical windows closed without a
fleet threshold marked unjudged."""

from __future__ import annotations

from iot_defender_runtime.evaluation.engine import BehaviorState, ClosedWindow, Datapoint, evaluate
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.metric_catalog import METRICS

SENT = METRICS["aws:num-messages-sent"]


def storm(kind: BehaviorKind = BehaviorKind.RULE) -> BehaviorDefinition:
    statistical = kind is BehaviorKind.STATISTICAL
    return BehaviorDefinition(
        name="Storm",
        metric=SENT.name,
        kind=kind,
        comparison_operator="less-than-equals",
        value=None if statistical else {"count": 10},
        statistic="p90" if statistical else None,
        duration_seconds=300,
    )


def test_each_settled_window_is_reported_once_with_its_total_and_verdict() -> None:
    points = [Datapoint(10, 4), Datapoint(20, 3), Datapoint(310, 11), Datapoint(700, 1)]
    result = evaluate("t1", storm(), SENT, BehaviorState(), points, now=899)
    assert result.windows == (ClosedWindow(0, 300, 7, False), ClosedWindow(300, 600, 11, True))
    again = evaluate("t1", storm(), SENT, result.state, [], now=899.5)
    assert again.windows == ()  # [600, 900) has not ended, and the others are not reported twice
    later = evaluate("t1", storm(), SENT, result.state, [], now=900)
    assert later.windows == (ClosedWindow(600, 900, 1, False),)


def test_empty_windows_judged_as_zero_are_reported() -> None:
    in_alarm = evaluate("t1", storm(), SENT, BehaviorState(), [Datapoint(10, 50)], now=300).state
    result = evaluate("t1", storm(), SENT, in_alarm, [], now=900, fill_empty=True)
    # Filling stops once the streaks are full (to alarm + to clear windows per gap): nothing changes after.
    assert [(w.start, w.value, w.violating) for w in result.windows] == [(300, 0, False), (600, 0, False)]


def test_statistical_window_without_fleet_threshold_is_unjudged_then_judged() -> None:
    definition = storm(BehaviorKind.STATISTICAL)
    first = evaluate("t1", definition, SENT, BehaviorState(), [Datapoint(10, 5)], now=300)
    assert first.windows == (ClosedWindow(0, 300, 5, None),)
    second = evaluate("t1", definition, SENT, first.state, [Datapoint(310, 9)], now=600, fleet={0.0: 8.0})
    assert second.windows == (ClosedWindow(300, 600, 9, True),)


def test_per_datapoint_metrics_close_no_window() -> None:
    size = BehaviorDefinition(
        name="Size",
        metric="aws:message-byte-size",
        kind=BehaviorKind.RULE,
        comparison_operator="less-than",
        value={"count": 100},
    )
    result = evaluate("t1", size, METRICS["aws:message-byte-size"], BehaviorState(), [Datapoint(1, 500)], now=10)
    assert result.windows == () and result.transitions
