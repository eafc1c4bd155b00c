"""Judging learned (ML) behaviors: each 5-minute window against the model's bound of its time slot, the
alert in the ML shape (criteria.mlDetectionConfig.confidenceLevel) that the quarantine responder's
minConfidence rules act on, and no judgement at all without a model that can judge."""

from __future__ import annotations

from iot_defender_runtime.evaluation.engine import IN_ALARM, Band, BehaviorState, ClosedWindow, Datapoint, evaluate
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.learned_model import ACTIVE, DAY, SLOTS, LearnedModel, slot_of
from iot_defender_runtime.model.metric_catalog import METRICS
from iot_defender_runtime.model.remediation_policy import Confidence, RemediationRule
from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.quarantine.decision import matches

SENT = METRICS["aws:num-messages-sent"]
SIZE = METRICS["aws:message-byte-size"]
MONDAY = 1_793_577_600.0  # 2026-11-02 00:00 UTC
# Weekday 09:00-18:00 allows 100 messages per window (HIGH), everything else 10.
BANDS = tuple((100.0, 80.0, 60.0) if 9 <= slot < 18 else (10.0, 8.0, 6.0) for slot in range(SLOTS))
MODEL = LearnedModel("fleet", "storm", SENT.name, ACTIVE, MONDAY - 20 * DAY, 30_000, MONDAY - DAY, "", BANDS)


def learned(confidence: str = "HIGH", metric: str = SENT.name) -> BehaviorDefinition:
    return BehaviorDefinition(name="storm", metric=metric, kind=BehaviorKind.ML, confidence=confidence)


def band_of(model: LearnedModel, confidence: str, now: float) -> Band:
    return lambda start: model.upper(confidence, start, now)


def test_each_window_is_judged_against_its_slots_bound() -> None:
    noon, night = MONDAY + 12 * 3600, MONDAY + 2 * 3600
    points = [Datapoint(noon + 10, 90), Datapoint(night + 10, 90)]
    now = noon + 600
    result = evaluate("t1", learned(), SENT, BehaviorState(), points, now=now, band=band_of(MODEL, "HIGH", now))
    assert result.windows == (ClosedWindow(night, night + 300, 90, True), ClosedWindow(noon, noon + 300, 90, False))
    assert [t.event_type for t in result.transitions] == [IN_ALARM, "alarm-cleared"]


def test_lower_confidence_is_more_sensitive() -> None:
    noon = MONDAY + 12 * 3600
    verdicts = {}
    for confidence in ("HIGH", "MEDIUM", "LOW"):
        band = band_of(MODEL, confidence, noon + 300)
        result = evaluate(
            "t1", learned(confidence), SENT, BehaviorState(), [Datapoint(noon, 70)], now=noon + 300, band=band
        )
        verdicts[confidence] = result.windows[0].violating
    assert verdicts == {"HIGH": False, "MEDIUM": False, "LOW": True}


def test_without_a_model_windows_close_unjudged_and_nothing_alarms() -> None:
    noon = MONDAY + 12 * 3600
    for band in (None, lambda start: None):
        result = evaluate("t1", learned(), SENT, BehaviorState(), [Datapoint(noon, 10**6)], now=noon + 300, band=band)
        assert result.windows == (ClosedWindow(noon, noon + 300, 10**6, None),)
        assert result.transitions == () and result.unjudged == 1


def test_an_expired_model_stops_alarming() -> None:
    late = MODEL.last_refresh + 31 * DAY  # type: ignore[operator]
    start = late - (late % 300)
    result = evaluate(
        "t1",
        learned(),
        SENT,
        BehaviorState(),
        [Datapoint(start, 10**6)],
        now=start + 300,
        band=band_of(MODEL, "HIGH", start + 300),
    )
    assert result.transitions == () and result.unjudged == 1


def test_a_storm_that_stops_clears_through_empty_windows() -> None:
    night = MONDAY + 2 * 3600
    band = band_of(MODEL, "HIGH", night + 3600)
    storm = evaluate("t1", learned(), SENT, BehaviorState(), [Datapoint(night, 500)], now=night + 300, band=band)
    assert storm.state.in_alarm
    quiet = evaluate("t1", learned(), SENT, storm.state, [], now=night + 900, fill_empty=True, band=band)
    assert not quiet.state.in_alarm and quiet.windows[0] == ClosedWindow(night + 300, night + 600, 0, False)


def test_per_message_and_device_side_metrics_are_judged_per_datapoint_as_point_windows() -> None:
    ports = METRICS["aws:num-listening-tcp-ports"]
    at = MONDAY + 3 * 3600 + 7
    report = evaluate(
        "t1",
        learned(metric=ports.name),
        ports,
        BehaviorState(),
        [Datapoint(at, 4), Datapoint(at + 100, 30)],
        now=at + 100,
        band=band_of(MODEL, "HIGH", at),
    )
    assert report.windows == (ClosedWindow(at, at, 4, False), ClosedWindow(at + 100, at + 100, 30, True))
    result = evaluate(
        "t1",
        learned(metric=SIZE.name),
        SIZE,
        BehaviorState(),
        [Datapoint(at, 50)],
        now=at,
        band=band_of(MODEL, "HIGH", at),
    )
    assert result.windows == (ClosedWindow(at, at, 50, True),) and result.state.in_alarm


def test_the_alert_is_in_the_ml_shape_and_min_confidence_rules_act_on_it() -> None:
    night = MONDAY + 2 * 3600
    result = evaluate(
        "t1",
        learned("MEDIUM"),
        SENT,
        BehaviorState(),
        [Datapoint(night, 500)],
        now=night + 300,
        band=band_of(MODEL, "MEDIUM", night + 300),
    )
    transition = result.transitions[0]
    message = ViolationEvent.alert(
        violation_id=transition.violation_id,
        thing_name="t1",
        security_profile_name="fleet",
        behavior=learned("MEDIUM").to_api(),
        event_type=transition.event_type,
        at=transition.at,
        metric_value=transition.metric_value,
    ).to_message()
    assert message["behavior"]["criteria"]["mlDetectionConfig"] == {"confidenceLevel": "MEDIUM"}
    violation = ViolationEvent.model_validate(message)
    assert violation.confidence_level == "MEDIUM"
    assert matches(RemediationRule(name="m", actions=(), min_confidence=Confidence.MEDIUM), violation)
    assert not matches(RemediationRule(name="h", actions=(), min_confidence=Confidence.HIGH), violation)


def test_slot_bounds_follow_the_weekend() -> None:
    saturday_noon = MONDAY + 5 * DAY + 12 * 3600
    assert slot_of(saturday_noon) == 36 and MODEL.upper("HIGH", saturday_noon, saturday_noon) == 10.0
