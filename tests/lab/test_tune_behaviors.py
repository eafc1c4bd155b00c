"""The lab's behavior sets: the model-level mirrors of the constructs' starter behaviors render what
the constructs render, "untuned" is the reference app as it ships, and bad sets are refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detect_lab import behaviors
from detect_lab.behaviors import BehaviorSetError
from iot_defender_runtime.model.detect_profiles import DetectProfiles


def test_mirrors_render_as_the_constructs_starter_behaviors() -> None:
    from constructs_lib import StarterBehaviors

    pairs = [
        (StarterBehaviors.message_storm(max_messages=1000), behaviors.message_storm(1000)),
        (StarterBehaviors.credential_misuse(), behaviors.credential_misuse()),
        (StarterBehaviors.credential_misuse(max_failures=10), behaviors.credential_misuse(10)),
        (StarterBehaviors.connection_churn(max_attempts=20), behaviors.connection_churn(20)),
        (
            StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[22]),
            behaviors.unexpected_listening_ports([22]),
        ),
    ]
    for construct, mirror in pairs:
        assert construct.definition.to_api() == mirror.to_api()


def test_untuned_is_the_reference_app_as_it_ships() -> None:
    import app

    shipped = [b.definition.to_api() for b in app.fleet_behaviors()]
    untuned = behaviors.untuned_profiles(["sensor", "camera"])
    assert [b.definition.to_api() for b in untuned.behaviors] == shipped
    assert untuned.behaviors[0].targets.thing_groups == frozenset({"sensor", "camera"})


def test_starter_profiles_cover_every_attack_metric_per_class() -> None:
    from detect_lab.simulator import ATTACK_METRICS

    profiles = behaviors.starter_profiles(["sensor", "gateway"])
    for name in ("sensor", "gateway"):
        metrics = {b.definition.metric for b in profiles.by_profile[name]}
        assert all(set(watched) & metrics for watched in ATTACK_METRICS.values())
        assert profiles.by_profile[name][0].targets.thing_groups == frozenset({behaviors.class_group(name)})


def test_profiles_json_is_read_back_by_the_evaluator() -> None:
    profiles = behaviors.starter_profiles(["sensor"])
    assert DetectProfiles.from_json(behaviors.profiles_json(profiles)) == profiles
    assert json.loads(behaviors.profiles_json(profiles))["profiles"][0]["targets"]["thingGroups"] == ["sensor"]


@given(
    st.text(min_size=1, max_size=20).filter(lambda s: s not in {"MessageStorm", "CredentialMisuse", "ConnectionChurn"})
)
def test_fails_when_a_behavior_name_is_unknown(name: str) -> None:
    with pytest.raises(
        BehaviorSetError, match="is not in the behavior set; known: ConnectionChurn, CredentialMisuse, MessageStorm"
    ):
        behaviors.select(behaviors.untuned_profiles(["sensor"]), [name])


def test_select_keeps_the_named_behaviors() -> None:
    chosen = behaviors.select(behaviors.untuned_profiles(["sensor"]), ["MessageStorm"])
    assert [b.definition.name for b in chosen.behaviors] == ["MessageStorm"]


def test_fails_when_a_behavior_breaks_the_evaluator_rules() -> None:
    from dataclasses import replace

    broken = replace(behaviors.message_storm(), consecutive_datapoints_to_alarm=11)
    with pytest.raises(BehaviorSetError, match="datapoints_to_alarm 11 must be between 1 and 10"):
        behaviors.class_profiles({"sensor": [broken]})
