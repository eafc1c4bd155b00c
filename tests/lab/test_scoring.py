"""Scoring a replay: detections within the attack's horizon, false alarms per 1,000 device-days, time
to detect, verification states as labels, and bad input refused with a message naming it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detect_lab.behaviors import class_profiles, credential_misuse, message_storm
from detect_lab.replay.result import Alarm, alarms_of
from detect_lab.scoring import ScoringError, score, verification_states
from detect_lab.simulator import AttackKind, AttackLabel

PROFILES = class_profiles({"sensor": [message_storm(10), credential_misuse(5)]})
T0 = 1_800_000_000.0
STORM = AttackLabel.of(AttackKind.MESSAGE_STORM, "sensor-000001", T0, T0 + 1800)


def storm_alarm(thing: str, at: float, violation_id: str = "v") -> Alarm:
    return Alarm("sensor", "MessageStorm", "aws:num-messages-sent", thing, violation_id, at)


@pytest.mark.parametrize(
    ("at", "detected"),
    [
        (T0 - 1, False),  # before the attack
        (T0 + 600, True),
        (T0 + 1800 + 300 * 3, True),  # the horizon: end + one window + 2 consecutive windows
        (T0 + 1800 + 300 * 3 + 1, False),
    ],
)
def test_an_alarm_detects_an_attack_within_its_horizon(at: float, detected: bool) -> None:
    # Given a storm alarm on the attacked thing at ``at``
    result = score([storm_alarm(STORM.thing, at)], PROFILES, [STORM], device_days=1000.0)
    # Then the attack is detected exactly inside the horizon, and an alarm outside it is a false one
    assert result.detections[0].detected is detected
    assert result.false_alarms == (0 if detected else 1)
    assert result.of("MessageStorm").attacks == 1


def test_figures_per_behavior_and_overall() -> None:
    # Given one detected storm, a false storm alarm on another thing, and a missed credential probe
    probe = AttackLabel.of(AttackKind.CREDENTIAL_PROBING, "sensor-000002", T0, T0 + 900)
    alarms = [storm_alarm(STORM.thing, T0 + 600, "a"), storm_alarm("sensor-000003", T0, "b")]
    result = score(alarms, PROFILES, [STORM, probe], device_days=500.0)
    storm = result.of("MessageStorm")
    # Then
    assert (storm.alarms, storm.devices_in_alarm, storm.detected, storm.missed, storm.false_alarms) == (2, 2, 1, 0, 1)
    assert storm.false_alarms_per_1000_device_days == 2.0
    assert storm.time_to_detect_median == 600.0
    assert result.of("CredentialMisuse").missed == 1
    assert (result.attacks, result.detected, result.recall) == (2, 1, 0.5)
    assert result.false_alarms_per_1000_device_days == 2.0
    assert (result.time_to_detect_median, result.time_to_detect_max) == (600.0, 600.0)


def test_an_alarm_on_an_attacked_thing_is_not_false_whatever_its_metric() -> None:
    # Given a credential alarm on the thing under a storm: not a detection of the storm, not a false alarm
    alarm = Alarm("sensor", "CredentialMisuse", "aws:num-authorization-failures", STORM.thing, "c", T0 + 60)
    result = score([alarm], PROFILES, [STORM], device_days=10.0)
    assert (result.detected, result.false_alarms) == (0, 0)


def test_verification_states_override_the_labels() -> None:
    # Given three alarms no label explains, verified by operators
    alarms = [storm_alarm("sensor-000007", T0 + i, f"v{i}") for i in range(4)]
    verifications = [
        {"violationId": "v0", "verificationState": "TRUE_POSITIVE"},
        {"violationId": "v1", "verificationState": "BENIGN_POSITIVE"},
        {"violationId": "v2", "verificationState": "FALSE_POSITIVE"},
        {"violationId": "v3", "verificationState": "UNKNOWN"},
    ]
    result = score(alarms, PROFILES, [], device_days=1000.0, verifications=verifications)
    # Then the true positive is a detected attack, the false and the unknown ones are false alarms
    assert (result.attacks, result.detected, result.false_alarms, result.verified) == (1, 1, 2, 3)
    assert result.of("MessageStorm").detected == 1


def test_alarms_come_from_violation_messages() -> None:
    message = {
        "violationId": "v",
        "thingName": "t",
        "securityProfileName": "p",
        "behavior": {"name": "MessageStorm", "metric": "aws:num-messages-sent"},
    }
    alarms = alarms_of(
        [
            {**message, "violationEventType": "in-alarm", "violationEventTime": 1_000_000},
            {**message, "violationEventType": "alarm-cleared", "violationEventTime": 1_600_000},
        ]
    )
    assert alarms == (Alarm("p", "MessageStorm", "aws:num-messages-sent", "t", "v", 1000.0, 1600.0),)


bad_entries = st.one_of(
    st.fixed_dictionaries(
        {"violationId": st.one_of(st.none(), st.just(""), st.integers()), "verificationState": st.just("UNKNOWN")}
    ),
    st.fixed_dictionaries(
        {
            "violationId": st.just("v"),
            "verificationState": st.text(max_size=8).filter(
                lambda s: s not in {"TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE", "UNKNOWN"}
            ),
        }
    ),
)


@given(bad_entries)
def test_fails_when_a_verification_is_malformed(entry: dict[str, Any]) -> None:
    with pytest.raises(ScoringError, match=r"verifications\[0\]\.(violationId|verificationState)"):
        verification_states([entry])


@pytest.mark.parametrize("days", [0, -1.0, float("nan"), True, "10"])
def test_fails_when_device_days_is_not_positive(days: Any) -> None:
    with pytest.raises(ScoringError, match=r"device_days .* must be a number above 0"):
        score([], PROFILES, [], device_days=days)
