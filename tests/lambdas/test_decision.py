"""Remediation decisions, table-driven: pure logic, no AWS."""

from __future__ import annotations

import json

import pytest

from iot_defender_runtime.model.remediation_policy import (
    EventType,
    RemediationAction,
    RemediationPolicy,
    RemediationRule,
)
from iot_defender_runtime.model.things import ThingFacts
from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.quarantine.decision import Outcome, decide, matches
from iot_defender_runtime.quarantine.intake import parse_violation_message
from tests.lambdas.conftest import load_event

NOTIFY = RemediationAction.NOTIFY
QUARANTINE = RemediationAction.QUARANTINE
DEACTIVATE = RemediationAction.DEACTIVATE_CERTIFICATES
RELEASE = RemediationAction.RELEASE

IN_ALARM = parse_violation_message(json.dumps(load_event("violation_in_alarm_rule.json")))
CLEARED = parse_violation_message(json.dumps(load_event("violation_alarm_cleared_rule.json")))
INVALIDATED = parse_violation_message(json.dumps(load_event("violation_alarm_invalidated_ml.json")))
DEFAULT = RemediationPolicy.default()
IN_FLEET = ThingFacts("t", True, {}, ("fleet",))
IN_QUARANTINE = ThingFacts("t", True, {}, ("fleet", "q"))


def ml_in_alarm(confidence: str | None) -> ViolationEvent:
    event = load_event("violation_alarm_invalidated_ml.json")
    event["violationEventType"] = "in-alarm"
    if confidence is None:
        del event["behavior"]["criteria"]["mlDetectionConfig"]
    else:
        event["behavior"]["criteria"]["mlDetectionConfig"]["confidenceLevel"] = confidence
    return ViolationEvent.model_validate(event)


@pytest.mark.parametrize(
    ("violation", "thing", "outcome", "actions"),
    [
        (IN_ALARM, IN_FLEET, Outcome.REMEDIATE, (QUARANTINE, NOTIFY)),
        (IN_ALARM, IN_QUARANTINE, Outcome.ALREADY_QUARANTINED, (NOTIFY,)),
        (IN_ALARM, ThingFacts("t", True, {"quarantine_exempt": "true"}), Outcome.EXEMPT, (NOTIFY,)),
        (IN_ALARM, ThingFacts("t", True, {"quarantine_exempt": " TRUE "}), Outcome.EXEMPT, (NOTIFY,)),
        (IN_ALARM, ThingFacts("t", True, {"quarantine_exempt": "no"}), Outcome.REMEDIATE, (QUARANTINE, NOTIFY)),
        (IN_ALARM, ThingFacts("t", False), Outcome.THING_NOT_FOUND, (NOTIFY,)),
        (CLEARED, IN_QUARANTINE, Outcome.NO_MATCHING_RULE, (NOTIFY,)),
        (INVALIDATED, IN_FLEET, Outcome.NO_MATCHING_RULE, (NOTIFY,)),
    ],
)
def test_default_policy(violation, thing, outcome, actions):
    decision = decide(violation, thing, DEFAULT, quarantine_group_name="q")
    assert (decision.outcome, decision.actions) == (outcome, actions)
    assert decision.reason


def test_member_of_an_exempt_group_is_never_acted_on():
    policy = RemediationPolicy(DEFAULT.rules, exempt_groups=["lab"])
    decision = decide(IN_ALARM, ThingFacts("t", True, {}, ("fleet", "lab")), policy, "q")
    assert (decision.outcome, decision.actions) == (Outcome.EXEMPT, (NOTIFY,))
    assert decision.reason == "thing 't' is exempt (member of exempt group lab); never acted on"


def test_exempt_without_notify_in_the_rule_does_nothing():
    policy = RemediationPolicy([RemediationRule("silent", actions=[QUARANTINE])])
    decision = decide(IN_ALARM, ThingFacts("t", True, {"quarantine_exempt": "true"}), policy, "q")
    assert decision.actions == ()


@pytest.mark.parametrize(
    ("rule", "violation", "expected"),
    [
        (RemediationRule("r", actions=[NOTIFY], security_profiles=["LargeMessageSize"]), IN_ALARM, True),
        (RemediationRule("r", actions=[NOTIFY], security_profiles=["Other"]), IN_ALARM, False),
        (RemediationRule("r", actions=[NOTIFY], behaviors=["messageSize"]), IN_ALARM, True),
        (RemediationRule("r", actions=[NOTIFY], behaviors=["PacketsOut"]), IN_ALARM, False),
        (RemediationRule("r", actions=[NOTIFY], metrics=["aws:message-byte-size"]), IN_ALARM, True),
        (RemediationRule("r", actions=[NOTIFY], metrics=["aws:num-messages-sent"]), IN_ALARM, False),
        (RemediationRule("r", actions=[NOTIFY], event_types=[EventType.ALARM_CLEARED]), CLEARED, True),
        (RemediationRule("r", actions=[NOTIFY], event_types=[EventType.ALARM_CLEARED]), IN_ALARM, False),
        (RemediationRule("r", actions=[NOTIFY], min_confidence="MEDIUM"), ml_in_alarm("HIGH"), True),
        (RemediationRule("r", actions=[NOTIFY], min_confidence="MEDIUM"), ml_in_alarm("MEDIUM"), True),
        (RemediationRule("r", actions=[NOTIFY], min_confidence="MEDIUM"), ml_in_alarm("LOW"), False),
        # A confidence floor never passes a violation that has no confidence: unknown is not a pass.
        (RemediationRule("r", actions=[NOTIFY], min_confidence="LOW"), ml_in_alarm(None), False),
        (RemediationRule("r", actions=[NOTIFY], min_confidence="LOW"), IN_ALARM, False),
    ],
)
def test_rule_matching(rule, violation, expected):
    assert matches(rule, violation) is expected


def test_confidence_from_additional_info_wins_over_the_criteria():
    event = load_event("violation_alarm_invalidated_ml.json")
    event["violationEventAdditionalInfo"] = {"confidenceLevel": "LOW"}
    assert ViolationEvent.model_validate(event).confidence_level == "LOW"


def test_first_matching_rule_decides():
    policy = RemediationPolicy(
        [
            RemediationRule("high", actions=[QUARANTINE, DEACTIVATE, NOTIFY], min_confidence="HIGH"),
            RemediationRule("rest", actions=[NOTIFY], event_types=["in-alarm"]),
        ]
    )
    assert decide(ml_in_alarm("HIGH"), IN_FLEET, policy, "q").actions == (QUARANTINE, DEACTIVATE, NOTIFY)
    low = decide(ml_in_alarm("LOW"), IN_FLEET, policy, "q")
    assert (low.outcome, low.rule) == (Outcome.NOTIFY_ONLY, "rest")


def test_already_quarantined_still_deactivates_when_the_rule_asks():
    policy = RemediationPolicy([RemediationRule("both", actions=[QUARANTINE, DEACTIVATE])])
    decision = decide(IN_ALARM, IN_QUARANTINE, policy, "q")
    assert (decision.outcome, decision.actions) == (Outcome.REMEDIATE, (DEACTIVATE,))


def test_release_only_applies_to_quarantined_things():
    policy = RemediationPolicy(
        [RemediationRule("release-on-clear", actions=[RELEASE, NOTIFY], event_types=["alarm-cleared"])]
    )
    assert decide(CLEARED, IN_QUARANTINE, policy, "q").actions == (RELEASE, NOTIFY)
    not_held = decide(CLEARED, IN_FLEET, policy, "q")
    assert (not_held.outcome, not_held.actions) == (Outcome.NOT_QUARANTINED, (NOTIFY,))
