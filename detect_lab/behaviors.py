"""The lab's behavior sets, as the model's plain definitions (``BehaviorDefinition``): the lab runs
the evaluator's code and never imports the CDK, so the constructs' ``StarterBehaviors`` are mirrored
here in model terms (``tests/lab/test_tune_behaviors.py`` checks that they render the same API JSON).

- ``untuned_profiles()``: the reference app's behaviors as they ship (``app.py`` ``fleet_behaviors()``:
  message storm 1000, credential misuse 10, connection churn 20), one profile over the whole fleet.
- ``starter_profiles()``: one profile per device class (targets: the class's thing group), with the
  reference behaviors plus one behavior for each attack kind they do not cover (bytes out, listening
  TCP ports, destination IPs), at generic first guesses: what the tuner starts from.
- ``class_profiles(...)``: per-class profiles from any behaviors (the tuner's proposals).

Profiles are built through ``DetectProfiles.from_json``: the evaluator's own reading rules check them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileDocument, TargetsDocument
from iot_defender_runtime.model.metric_catalog import METRICS, ComparisonOperator, MetricSpec
from iot_defender_runtime.model.remediation_policy import PolicyError

REFERENCE_PROFILE = "reference"
AT_MOST = ComparisonOperator.LESS_THAN_EQUALS.value
FIVE_MINUTES, FIFTEEN_MINUTES = 300, 900


class BehaviorSetError(ValueError):
    """A behavior set the lab cannot run; the message names the argument and what is allowed."""


def class_group(device_class: str) -> str:
    """The thing group of a simulated device class: its profile's target."""
    return device_class


def _rule(
    name: str, metric: str, operator: str, value: object, duration: int | None = None, alarm: int = 1, clear: int = 1
) -> BehaviorDefinition:
    kind = METRICS[metric].value_kind.value
    return BehaviorDefinition(
        name=name,
        metric=metric,
        kind=BehaviorKind.RULE,
        comparison_operator=operator,
        value={kind: list(value) if isinstance(value, list | tuple) else value},
        duration_seconds=duration,
        consecutive_datapoints_to_alarm=alarm,
        consecutive_datapoints_to_clear=clear,
    )


# Mirrors of constructs_lib.detect.starter_behaviors.StarterBehaviors (same names, metrics, defaults).


def message_storm(max_messages: int = 1000) -> BehaviorDefinition:
    """``StarterBehaviors.message_storm``: at most ``max_messages`` sent per 5 minutes, 2 to alarm and clear."""
    return _rule("MessageStorm", "aws:num-messages-sent", AT_MOST, max_messages, FIVE_MINUTES, 2, 2)


def credential_misuse(max_failures: int = 5) -> BehaviorDefinition:
    """``StarterBehaviors.credential_misuse``: at most ``max_failures`` authorization failures per 5 minutes."""
    return _rule("CredentialMisuse", "aws:num-authorization-failures", AT_MOST, max_failures, FIVE_MINUTES)


def connection_churn(max_attempts: int = 20) -> BehaviorDefinition:
    """``StarterBehaviors.connection_churn``: at most ``max_attempts`` connection attempts per 15 minutes,
    2 to alarm and clear."""
    return _rule("ConnectionChurn", "aws:num-connection-attempts", AT_MOST, max_attempts, FIFTEEN_MINUTES, 2, 2)


def unexpected_listening_ports(allowed_tcp_ports: Sequence[int]) -> BehaviorDefinition:
    """``StarterBehaviors.unexpected_listening_ports``: listens only on ``allowed_tcp_ports``."""
    return _rule("UnexpectedListeningPorts", "aws:listening-tcp-ports", "in-port-set", list(allowed_tcp_ports))


# The lab's own behaviors for the attack kinds the starters do not cover.


def bytes_out(max_bytes: int) -> BehaviorDefinition:
    """At most ``max_bytes`` sent per 5 minutes (the agent's ``bytes_out``): exfiltration."""
    return _rule("BytesOut", "aws:all-bytes-out", AT_MOST, max_bytes, FIVE_MINUTES)


def destination_ips(allowed_cidrs: Sequence[str]) -> BehaviorDefinition:
    """Connects only to ``allowed_cidrs`` (the agent's established TCP connections): a new destination."""
    return _rule("UnexpectedDestinations", "aws:destination-ip-addresses", "in-cidr-set", list(allowed_cidrs))


def reference_behaviors() -> tuple[BehaviorDefinition, ...]:
    """``app.py`` ``fleet_behaviors()``, as it ships."""
    return (message_storm(1000), credential_misuse(10), connection_churn(20))


def starter_behaviors() -> tuple[BehaviorDefinition, ...]:
    """The reference behaviors and a generic first guess for each attack kind they miss (10 MB per
    5 minutes out; SSH and HTTPS listening; connections inside private and documentation ranges):
    what a team writes before it has looked at its fleet, and what the tuner starts from."""
    return (
        *reference_behaviors(),
        bytes_out(10_000_000),
        unexpected_listening_ports([22, 443]),
        destination_ips(["10.0.0.0/8", "192.0.2.0/24"]),
    )


@dataclass(frozen=True)
class _Judged:
    definition: BehaviorDefinition
    spec: MetricSpec


def profiles_of(documents: Iterable[tuple[str, Sequence[BehaviorDefinition], Sequence[str] | None]]) -> DetectProfiles:
    """``DetectProfiles`` from ``(profile name, behaviors, thing groups or None for every client)``,
    through the evaluator's reader (``DetectProfiles.from_json``): a set it would refuse is refused here.

    :raises BehaviorSetError: naming each problem the reader found.
    """
    rendered = []
    for name, behaviors, groups in documents:
        judged = [_Judged(b, METRICS[b.metric]) if b.metric in METRICS else _unknown(b) for b in behaviors]
        targets = TargetsDocument(tuple(groups)) if groups is not None else None
        rendered.append(ProfileDocument(name, judged, targets).render())
    try:
        return DetectProfiles.from_json(json.dumps({"profiles": rendered}))
    except PolicyError as error:
        raise BehaviorSetError("behaviors: " + "; ".join(error.problems)) from error


def _unknown(definition: BehaviorDefinition) -> _Judged:
    raise BehaviorSetError(
        f"behavior '{definition.name}': metric '{definition.metric}' is not an AWS-managed Detect metric; "
        f"the lab simulates {', '.join(sorted(METRICS))}"
    )


def untuned_profiles(device_classes: Sequence[str]) -> DetectProfiles:
    """The reference app's behaviors as they ship, one profile over the things of ``device_classes``."""
    return profiles_of([(REFERENCE_PROFILE, reference_behaviors(), [class_group(c) for c in device_classes])])


def class_profiles(behaviors_by_class: Mapping[str, Sequence[BehaviorDefinition]]) -> DetectProfiles:
    """One profile per device class, named after it, targeting its thing group."""
    return profiles_of([(name, behaviors, [class_group(name)]) for name, behaviors in behaviors_by_class.items()])


def starter_profiles(device_classes: Sequence[str]) -> DetectProfiles:
    """``starter_behaviors()`` in one profile per device class."""
    return class_profiles({name: starter_behaviors() for name in device_classes})


def profiles_json(profiles: DetectProfiles) -> str:
    """The evaluator's ``DETECT_PROFILES`` document for ``profiles`` (targets kept), without the size
    limit of the function's environment: for files, not for deploying."""
    documents = []
    for name, behaviors in profiles.by_profile.items():
        targets = behaviors[0].targets
        written = TargetsDocument(
            tuple(sorted(targets.thing_groups)), targets.registered_things, targets.unregistered_things
        )
        documents.append(ProfileDocument(name, behaviors, None if targets.everything else written).render())
    return json.dumps({"profiles": documents}, indent=1)


def select(profiles: DetectProfiles, names: Sequence[str]) -> DetectProfiles:
    """Only the behaviors named ``names`` (every profile's behavior of that name).

    :raises BehaviorSetError: for a name no profile has, listing the names there are.
    """
    known = sorted({b.definition.name for b in profiles.behaviors})
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BehaviorSetError(
            f"behavior {', '.join(repr(n) for n in unknown)} is not in the behavior set; known: {', '.join(known)}"
        )
    return DetectProfiles(tuple(b for b in profiles.behaviors if b.definition.name in set(names)))
