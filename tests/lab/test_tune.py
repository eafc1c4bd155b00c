"""The tuner: proposals that meet the budget on normal windows, the trade-off behind them, set
proposals, the output as Behavior.rule code and API JSON, and bad arguments refused."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detect_lab.behaviors import class_profiles, destination_ips, message_storm, unexpected_listening_ports
from detect_lab.replay.history import Windows
from detect_lab.replay.result import SetObservations
from detect_lab.simulator import AttackKind, AttackLabel
from detect_lab.tune import TuningError, api_json, check_target, rule_code, tradeoff_table, tune
from detect_lab.tune.output import validate_create_security_profile

DAY = 86_400
T0 = 1_800_000_000 - 1_800_000_000 % DAY


def storm_windows(things: int, days: int, *, spike: tuple[str, int, float] | None = None) -> Windows:
    """Messages per 5 minutes: 2 to 6, drawn from a seeded generator; optionally one spike window."""
    rng = np.random.default_rng(7)
    rows: dict[str, list[Any]] = {k: [] for k in ("thing_name", "profile", "behavior", "metric")}
    starts, values = [], []
    for index in range(things):
        for window in range(days * 288):
            rows["thing_name"].append(f"sensor-{index:06d}")
            starts.append(T0 + window * 300)
            values.append(float(rng.integers(2, 7)))
    if spike is not None:
        thing, window, value = spike
        values[int(thing.rsplit("-", 1)[1]) * days * 288 + window] = value
    count = len(starts)
    rows["profile"] = ["sensor"] * count
    rows["behavior"] = ["MessageStorm"] * count
    rows["metric"] = ["aws:num-messages-sent"] * count
    return Windows.of(
        {
            **rows,
            "window_start": starts,
            "window_end": [s + 300 for s in starts],
            "value": values,
            "verdict": ["normal"] * count,
        }
    )


PROFILES = class_profiles({"sensor": [message_storm(1000)]})


def test_proposes_the_lowest_threshold_that_meets_the_budget_with_headroom() -> None:
    # Given 20 things over 2 days whose windows never exceed 6 messages
    windows = storm_windows(20, 2)
    # When tuned for 1 false alarm per 1,000 device-days
    tuning = tune(windows, PROFILES, target_false_alarms=1.0)
    proposal = tuning.proposal("sensor", "MessageStorm")
    # Then the proposal is the lowest candidate the peak grown by 1.25 (7.5) does not exceed: ceil(6 x 1.25) = 8
    assert proposal.chosen is not None and proposal.met
    assert (proposal.proposed_threshold, proposal.proposed.consecutive_datapoints_to_alarm) == (8.0, 1)
    assert proposal.device_days == pytest.approx(20 * (2 * DAY) / DAY)
    # And the trade-off table holds every threshold x 1..10, the current threshold included
    thresholds = sorted({c.threshold for c in proposal.candidates})
    assert thresholds == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 12.0, 18.0, 1000.0]
    assert len(proposal.candidates) == len(thresholds) * 10
    low = next(c for c in proposal.candidates if c.threshold == 3.0 and c.consecutive == 1)
    assert low.false_alarms > 0 and low.false_alarms_per_1000_device_days > 1.0


def test_a_labelled_spike_is_left_out_and_scores_the_candidates() -> None:
    # Given one thing with a 200-message window during its labelled storm
    windows = storm_windows(10, 1, spike=("sensor-000003", 100, 200.0))
    storm = AttackLabel.of(AttackKind.MESSAGE_STORM, "sensor-000003", T0 + 100 * 300, T0 + 101 * 300)
    # When tuned with the label
    proposal = tune(windows, PROFILES, target_false_alarms=1.0, labels=[storm]).proposal("sensor", "MessageStorm")
    # Then the spike is not a normal window, and the proposal detects the storm
    assert proposal.normal_values.max() == 6.0
    assert proposal.chosen is not None and (proposal.chosen.detected, proposal.chosen.attacks) == (1, 1)
    # While the same spike unlabelled sets the peak
    unlabelled = tune(windows, PROFILES, target_false_alarms=1.0).proposal("sensor", "MessageStorm")
    assert unlabelled.normal_values.max() == 200.0 and unlabelled.chosen is not None
    assert unlabelled.chosen.detected is None


def test_the_budget_is_shared_by_the_profiles_behaviors() -> None:
    profiles = class_profiles({"sensor": [message_storm(1000), unexpected_listening_ports([22])]})
    tuning = tune(storm_windows(5, 1), profiles, target_false_alarms=2.0)
    assert {p.behavior: p.budget for p in tuning.proposals} == {"MessageStorm": 1.0, "UnexpectedListeningPorts": 1.0}


def test_set_metrics_get_the_values_normal_things_of_the_profile_reported() -> None:
    # Given ports and addresses reported by a sensor, and others by a camera
    profiles = class_profiles({"sensor": [unexpected_listening_ports([22]), destination_ips(["10.0.0.0/8"])]})
    observed = SetObservations(
        {
            ("sensor-000001", "aws:listening-tcp-ports"): Counter({22: 5, 8883: 1}),
            ("sensor-000001", "aws:destination-ip-addresses"): Counter({"192.0.2.10": 3, "2001:db8::1": 1}),
            ("camera-000002", "aws:listening-tcp-ports"): Counter({554: 9}),
        }
    )
    things = {"sensor-000001": frozenset({"sensor"}), "camera-000002": frozenset({"camera"})}
    tuning = tune(storm_windows(1, 1), profiles, target_false_alarms=1.0, observed=observed, things=things)
    # Then each set is the sensor's values (addresses as /32 and /128)
    assert tuning.proposal("sensor", "UnexpectedListeningPorts").proposed.value == {"ports": [22, 8883]}
    assert tuning.proposal("sensor", "UnexpectedDestinations").proposed.value == {
        "cidrs": ["192.0.2.10/32", "2001:db8::1/128"]
    }


def test_behaviors_without_windows_or_values_are_kept_with_the_reason() -> None:
    profiles = class_profiles({"camera": [message_storm(1000), unexpected_listening_ports([22])]})
    tuning = tune(storm_windows(2, 1), profiles, target_false_alarms=1.0)
    for proposal in tuning.proposals:
        assert proposal.proposed == proposal.current and proposal.note.startswith("not tuned")


def test_rule_code_builds_the_proposed_behaviors_with_the_constructs() -> None:
    # Given a tuning with a threshold and a set proposal
    profiles = class_profiles({"sensor": [message_storm(1000), unexpected_listening_ports([22])]})
    observed = SetObservations({("sensor-000000", "aws:listening-tcp-ports"): Counter({22: 1, 443: 1})})
    tuning = tune(storm_windows(3, 1), profiles, target_false_alarms=1.0, observed=observed)
    # When its code runs
    namespace: dict[str, Any] = {}
    exec(compile(rule_code(tuning), "tuned.py", "exec"), namespace)
    # Then the constructs build exactly the proposed behaviors
    built = [b.definition for b in namespace["TUNED_BEHAVIORS"]["sensor"]]
    assert built == [p.proposed for p in tuning.proposals]


def test_api_json_is_what_create_security_profile_takes() -> None:
    tuning = tune(storm_windows(3, 1), PROFILES, target_false_alarms=1.0)
    document = api_json(tuning)
    profile = document["securityProfiles"][0]
    assert profile["securityProfileName"] == "sensor"
    assert profile["behaviors"][0]["criteria"]["value"] == {"count": 8}
    with pytest.raises(ValueError, match="consecutiveDatapointsToAlarm"):
        broken = {
            **profile,
            "behaviors": [{**profile["behaviors"][0], "criteria": {"consecutiveDatapointsToAlarm": 0}}],
        }
        validate_create_security_profile(broken)


@given(
    st.one_of(
        st.floats(max_value=0.000999, allow_nan=False),
        st.floats(min_value=1000.001, allow_infinity=True),
        st.just(math.nan),
        st.booleans(),
        st.text(max_size=5),
        st.none(),
    )
)
def test_fails_when_the_target_is_out_of_range(target: Any) -> None:
    with pytest.raises(TuningError, match=r"target_false_alarms .* must be a number from 0.001 to 1000"):
        check_target(target)


@given(st.floats(min_value=0.001, max_value=1000))
def test_accepts_targets_in_range(target: float) -> None:
    assert check_target(target) == target


def test_the_tradeoff_table_marks_the_proposal() -> None:
    windows = storm_windows(10, 1, spike=("sensor-000003", 100, 200.0))
    storm = AttackLabel.of(AttackKind.MESSAGE_STORM, "sensor-000003", T0 + 100 * 300, T0 + 101 * 300)
    proposal = tune(windows, PROFILES, target_false_alarms=1.0, labels=[storm]).proposal("sensor", "MessageStorm")
    table = tradeoff_table(proposal).splitlines()
    assert table[0].startswith("| threshold | 1 in a row | 2 in a row |") and len(table) == 2 + 10
    assert "| 8 | **0.00 / 1 of 1** | 0.00 / 0 of 1 |" in table[7]
