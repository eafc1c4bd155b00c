"""A violation is one thing, profile and behavior: two profiles with a behavior of the same name on
the same thing raise two violations (two ids), as managed Detect does, so that the quarantine
responder's idempotency (per violationId) does not take the second for a redelivery of the first."""

from __future__ import annotations

from iot_defender_runtime.evaluation.engine import BehaviorState, Datapoint, evaluate
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.metric_catalog import METRICS

SENT = METRICS["aws:num-messages-sent"]
STORM = BehaviorDefinition(
    name="Storm",
    metric=SENT.name,
    kind=BehaviorKind.RULE,
    comparison_operator="less-than-equals",
    value={"count": 10},
    duration_seconds=300,
)


def _violation_id(profile: str, thing: str = "t1") -> str:
    result = evaluate(thing, STORM, SENT, BehaviorState(), [Datapoint(10, 50)], now=300, profile=profile)
    [transition] = result.transitions
    return transition.violation_id


def test_the_same_behavior_name_in_two_profiles_raises_two_violations() -> None:
    assert _violation_id("sensors") != _violation_id("gateways")


def test_the_id_is_stable_for_one_thing_profile_behavior_and_time() -> None:
    assert _violation_id("sensors") == _violation_id("sensors")
    assert _violation_id("sensors", "t1") != _violation_id("sensors", "t2")
