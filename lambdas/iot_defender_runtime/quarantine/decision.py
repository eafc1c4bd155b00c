"""What to do about one violation: the remediation policy applied to the thing. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from iot_defender_runtime.model.remediation_policy import (
    Confidence,
    EventType,
    RemediationAction,
    RemediationPolicy,
    RemediationRule,
)
from iot_defender_runtime.model.things import ThingFacts
from iot_defender_runtime.model.violation import ViolationEvent


class Outcome(str, Enum):
    """Why the decision is what it is; every path has a name, including the unknown thing."""

    REMEDIATE = "remediate"
    NOTIFY_ONLY = "notify-only"
    NO_MATCHING_RULE = "no-matching-rule"
    EXEMPT = "exempt"
    ALREADY_QUARANTINED = "already-quarantined"
    NOT_QUARANTINED = "not-quarantined"
    THING_NOT_FOUND = "thing-not-found"


@dataclass(frozen=True)
class Decision:
    actions: tuple[RemediationAction, ...]
    outcome: Outcome
    reason: str
    rule: str | None = None

    def takes(self, action: RemediationAction) -> bool:
        return action in self.actions

    @property
    def changes_anything(self) -> bool:
        """It may change the registry: any action but ``notify``."""
        return any(action is not RemediationAction.NOTIFY for action in self.actions)


def decision_of(notified: Mapping[str, Any]) -> Decision:
    """The decision a notification's ``decision`` block describes (a pending notification read back by
    the retry that delivers it)."""
    return Decision(
        actions=tuple(RemediationAction(action) for action in notified["actions"]),
        outcome=Outcome(notified["outcome"]),
        reason=notified["reason"],
        rule=notified.get("rule"),
    )


def matches(rule: RemediationRule, violation: ViolationEvent) -> bool:
    """All given criteria must hold; a confidence floor never matches a violation without a confidence."""
    if rule.security_profiles and violation.security_profile_name not in rule.security_profiles:
        return False
    if rule.behaviors and violation.behavior.name not in rule.behaviors:
        return False
    if rule.metrics and violation.behavior.metric not in rule.metrics:
        return False
    if rule.event_types and EventType(violation.violation_event_type.value) not in rule.event_types:
        return False
    if rule.min_confidence is not None:
        confidence = violation.confidence_level
        if confidence is None:
            return False
        try:
            return Confidence(confidence).rank >= rule.min_confidence.rank
        except ValueError:
            return False
    return True


def decide_without_thing(violation: ViolationEvent, policy: RemediationPolicy) -> Decision | None:
    """The decision when nothing about the thing can change it (no rule matches, or the rule only
    notifies), so the registry need not be asked; None when the thing's facts are needed."""
    rule = next((r for r in policy.rules if matches(r, violation)), None)
    if rule is None:
        return Decision((RemediationAction.NOTIFY,), Outcome.NO_MATCHING_RULE, "no remediation rule matches")
    if all(a is RemediationAction.NOTIFY for a in rule.actions):
        notify = tuple(a for a in rule.actions if a is RemediationAction.NOTIFY)
        return Decision(notify, Outcome.NOTIFY_ONLY, f"rule '{rule.name}' only notifies", rule.name)
    return None


def decide(
    violation: ViolationEvent, thing: ThingFacts, policy: RemediationPolicy, quarantine_group_name: str
) -> Decision:
    without_thing = decide_without_thing(violation, policy)
    if without_thing is not None:
        return without_thing
    rule = next(r for r in policy.rules if matches(r, violation))
    notify = tuple(a for a in rule.actions if a is RemediationAction.NOTIFY)
    changes = tuple(a for a in rule.actions if a is not RemediationAction.NOTIFY)
    refusal = _refusal(thing, changes, policy, quarantine_group_name)
    if refusal is not None:
        return Decision(notify, refusal[0], refusal[1], rule.name)
    if thing.is_quarantined(quarantine_group_name):
        changes = tuple(a for a in changes if a is not RemediationAction.QUARANTINE)
    return Decision(
        changes + notify,
        Outcome.REMEDIATE,
        f"rule '{rule.name}' matched {violation.violation_event_type.value} of behavior "
        f"'{violation.behavior.name}' in security profile '{violation.security_profile_name}'",
        rule.name,
    )


def _refusal(
    thing: ThingFacts, changes: tuple[RemediationAction, ...], policy: RemediationPolicy, quarantine_group_name: str
) -> tuple[Outcome, str] | None:
    """Why none of the rule's changes apply to this thing (unknown, exempt, nothing left to change), or None."""
    if not thing.exists:
        return Outcome.THING_NOT_FOUND, f"thing '{thing.name}' is not in the registry; nothing to act on"
    exemption = thing.exemption(policy.exempt_groups)
    if exemption is not None:
        return Outcome.EXEMPT, f"thing '{thing.name}' is exempt ({exemption}); never acted on"
    in_quarantine = thing.is_quarantined(quarantine_group_name)
    if in_quarantine and all(a is RemediationAction.QUARANTINE for a in changes):
        return (
            Outcome.ALREADY_QUARANTINED,
            f"thing '{thing.name}' is already in quarantine group '{quarantine_group_name}'",
        )
    if RemediationAction.RELEASE in changes and not in_quarantine:
        return (
            Outcome.NOT_QUARANTINED,
            f"thing '{thing.name}' is not in quarantine group '{quarantine_group_name}'; nothing to release",
        )
    return None
