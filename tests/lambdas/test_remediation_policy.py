"""The remediation policy document: round trip, and one test per validation rule with its message."""

from __future__ import annotations

import json

import pytest

from iot_defender_runtime.model.remediation_policy import PolicyError, RemediationPolicy, RemediationRule
from iot_defender_runtime.remediation.breaker import Admission, BreakerState, admit

FULL = RemediationPolicy(
    [
        RemediationRule(
            "contain-high",
            actions=["quarantine", "deactivate-certificates", "notify"],
            security_profiles=["sensors"],
            behaviors=["MessageStorm"],
            metrics=["aws:num-messages-sent"],
            event_types=["in-alarm"],
            min_confidence="HIGH",
        ),
        RemediationRule("release", actions=["release"], event_types=["alarm-cleared", "alarm-invalidated"]),
    ],
    exempt_groups=["lab"],
)


def test_policy_round_trips_through_json():
    assert RemediationPolicy.from_json(FULL.to_json()) == FULL
    assert json.loads(FULL.to_json())["rules"][0]["match"] == {
        "securityProfiles": ["sensors"],
        "behaviors": ["MessageStorm"],
        "metrics": ["aws:num-messages-sent"],
        "eventTypes": ["in-alarm"],
        "minConfidence": "HIGH",
    }


def test_actions_are_the_union_of_every_rule():
    assert {a.value for a in FULL.actions} == {"quarantine", "deactivate-certificates", "notify", "release"}


def problems_of(document) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as raised:
        RemediationPolicy.from_dict(document)
    return raised.value.problems


def rule(**fields):
    return {"name": "r", "actions": ["notify"], **fields}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the policy must be a JSON object, got list"),
        ({"rules": "x"}, "rules must be a list, got str"),
        ({"rules": [], "extra": 1}, "unknown keys ['extra']; allowed: version, rules, exemptGroups"),
        ({"version": 2, "rules": []}, "version 2 is not supported; use 1"),
        ({"rules": [], "exemptGroups": "lab"}, "exemptGroups must be a list, got str"),
        (
            {"rules": [], "exemptGroups": ["a b"]},
            "exemptGroups[0] 'a b' is not a thing group name ([a-zA-Z0-9:_-], 1-128)",
        ),
        ({"rules": ["r"]}, "rules[0] must be an object, got str"),
        ({"rules": [rule(when=1)]}, "rules[0] has unknown keys ['when']; allowed: name, match, actions"),
        ({"rules": [rule(name="a b")]}, "rules[0].name 'a b' must be 1 to 128 characters of [a-zA-Z0-9:_-]"),
        ({"rules": [rule(name=None)]}, "rules[0].name None must be 1 to 128 characters of [a-zA-Z0-9:_-]"),
        (
            {"rules": [rule(actions=[])]},
            "rules[0] ('r').actions is empty; give at least one of notify, quarantine, deactivate-certificates, "
            "release",
        ),
        ({"rules": [rule(actions="notify")]}, "rules[0].actions must be a list, got str"),
        (
            {"rules": [rule(actions=["reboot"])]},
            "rules[0] ('r').actions[0] 'reboot' is not one of notify, quarantine, deactivate-certificates, release",
        ),
        ({"rules": [rule(actions=["notify", "notify"])]}, "rules[0] ('r').actions lists an action more than once"),
        (
            {"rules": [rule(actions=["release", "quarantine"], match={"eventTypes": ["alarm-cleared"]})]},
            "rules[0] ('r').actions cannot both release and quarantine or deactivate certificates",
        ),
        (
            {"rules": [rule(actions=["release"])]},
            "rules[0] ('r').actions has release, so match.eventTypes must be limited to alarm-cleared and/or "
            "alarm-invalidated",
        ),
        ({"rules": [rule(match=[])]}, "rules[0].match must be an object, got list"),
        (
            {"rules": [rule(match={"thing": "x"})]},
            "rules[0].match has unknown keys ['thing']; allowed: securityProfiles, behaviors, metrics, eventTypes, "
            "minConfidence",
        ),
        ({"rules": [rule(match={"behaviors": "b"})]}, "rules[0].match.behaviors must be a list, got str"),
        (
            {"rules": [rule(match={"securityProfiles": ["a/b"]})]},
            "rules[0] ('r').match.securityProfiles[0] 'a/b' is not a valid name",
        ),
        (
            {"rules": [rule(match={"metrics": ["aws metric"]})]},
            "rules[0] ('r').match.metrics[0] 'aws metric' is not a valid name",
        ),
        (
            {"rules": [rule(match={"eventTypes": ["alarm"]})]},
            "rules[0] ('r').match.eventTypes[0] 'alarm' is not one of in-alarm, alarm-cleared, alarm-invalidated",
        ),
        (
            {"rules": [rule(match={"minConfidence": "VERY"})]},
            "rules[0] ('r').match.minConfidence 'VERY' is not one of LOW, MEDIUM, HIGH",
        ),
        ({"rules": [rule(), rule()]}, "rules: name 'r' is used more than once"),
    ],
)
def test_fails_when_the_document_breaks_a_rule(document, message):
    assert problems_of(document) == (message,)


def test_fails_when_not_json():
    with pytest.raises(PolicyError, match=r"^the policy is not valid JSON: Expecting value"):
        RemediationPolicy.from_json("rules: []")


@pytest.mark.parametrize(
    ("state", "now", "limit", "admission", "tripped_at"),
    [
        (BreakerState((), None, 0), 100.0, 2, Admission(True, False, 1), None),
        (BreakerState((90.0,), None, 1), 100.0, 2, Admission(True, False, 2), None),
        (BreakerState((90.0, 95.0), None, 2), 100.0, 2, Admission(False, True, 2), 100.0),
        (BreakerState((90.0, 95.0), 99.0, 3), 100.0, 2, Admission(False, False, 2), 99.0),
        # Events older than the window no longer count.
        (BreakerState((90.0, 95.0), None, 2), 3691.0, 2, Admission(True, False, 2), None),
        # A trip older than the window resets by itself.
        (BreakerState((), 50.0, 2), 3651.0, 2, Admission(True, False, 1), None),
    ],
)
def test_breaker_rule(state, now, limit, admission, tripped_at):
    result, updated = admit(state, now, limit)
    assert result == admission
    assert updated.tripped_at == tripped_at
    assert updated.version == state.version + 1
