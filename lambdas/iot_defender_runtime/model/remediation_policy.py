"""The remediation policy: which violations lead to which actions. Plain data, no I/O, no aws_cdk.

The same classes are built in CDK (``constructs_lib`` re-exports them), validated at synth, carried
to the function as the ``REMEDIATION_POLICY`` JSON, and validated again at cold start.

JSON shape (every key optional except ``rules``; an empty match list means "any")::

    {
      "version": 1,
      "exemptGroups": ["lab-devices"],
      "rules": [
        {
          "name": "quarantine-high-confidence",
          "match": {
            "securityProfiles": ["sensors"], "behaviors": ["MessageStorm"], "metrics": ["aws:num-messages-sent"],
            "eventTypes": ["in-alarm"], "minConfidence": "HIGH"
          },
          "actions": ["quarantine", "deactivate-certificates", "notify"]
        }
      ]
    }

Rules are tried in order and the first match decides; a violation no rule matches is notified only.
Things with attribute ``quarantine_exempt=true`` or in an exempt group are never acted on: their
decision keeps ``notify`` (if the rule has it) and drops every other action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

POLICY_VERSION = 1
_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_METRIC = re.compile(r"^[a-zA-Z0-9:_.-]{1,128}$")


class RemediationAction(str, Enum):
    NOTIFY = "notify"
    QUARANTINE = "quarantine"
    DEACTIVATE_CERTIFICATES = "deactivate-certificates"
    RELEASE = "release"


class EventType(str, Enum):
    IN_ALARM = "in-alarm"
    ALARM_CLEARED = "alarm-cleared"
    ALARM_INVALIDATED = "alarm-invalidated"


class Confidence(str, Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"

    @property
    def rank(self) -> int:
        return ("LOW", "MEDIUM", "HIGH").index(self.value)


class PolicyError(ValueError):
    """The policy is invalid; ``problems`` holds one message per bad field, each naming it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class RemediationRule:
    """One rule: what it matches and the actions it takes. Empty match lists mean "any"."""

    name: str
    actions: tuple[RemediationAction, ...]
    security_profiles: tuple[str, ...] = ()
    behaviors: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    event_types: tuple[EventType, ...] = ()
    min_confidence: Confidence | None = None

    def __init__(
        self,
        name: str,
        *,
        actions: Sequence[RemediationAction | str],
        security_profiles: Sequence[str] = (),
        behaviors: Sequence[str] = (),
        metrics: Sequence[str] = (),
        event_types: Sequence[EventType | str] = (),
        min_confidence: Confidence | str | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "actions", tuple(coerce(RemediationAction, a) for a in actions))
        object.__setattr__(self, "security_profiles", tuple(security_profiles))
        object.__setattr__(self, "behaviors", tuple(behaviors))
        object.__setattr__(self, "metrics", tuple(metrics))
        object.__setattr__(self, "event_types", tuple(coerce(EventType, e) for e in event_types))
        object.__setattr__(
            self, "min_confidence", None if min_confidence is None else coerce(Confidence, min_confidence)
        )

    def problems(self, where: str) -> list[str]:
        found: list[str] = []
        label = f"{where} ('{self.name}')" if isinstance(self.name, str) else where
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            found.append(f"{where}.name {self.name!r} must be 1 to 128 characters of [a-zA-Z0-9:_-]")
        if not self.actions:
            found.append(f"{label}.actions is empty; give at least one of {_allowed(RemediationAction)}")
        for index, action in enumerate(self.actions):
            if not isinstance(action, RemediationAction):
                found.append(f"{label}.actions[{index}] {action!r} is not one of {_allowed(RemediationAction)}")
        if len(set(self.actions)) != len(self.actions):
            found.append(f"{label}.actions lists an action more than once")
        if RemediationAction.RELEASE in self.actions:
            if {RemediationAction.QUARANTINE, RemediationAction.DEACTIVATE_CERTIFICATES} & set(self.actions):
                found.append(f"{label}.actions cannot both release and quarantine or deactivate certificates")
            if not self.event_types or EventType.IN_ALARM in self.event_types:
                found.append(
                    f"{label}.actions has release, so match.eventTypes must be limited to alarm-cleared "
                    "and/or alarm-invalidated"
                )
        for key, values, pattern in (
            ("securityProfiles", self.security_profiles, _NAME),
            ("behaviors", self.behaviors, _NAME),
            ("metrics", self.metrics, _METRIC),
        ):
            for index, value in enumerate(values):
                if not isinstance(value, str) or not pattern.match(value):
                    found.append(f"{label}.match.{key}[{index}] {value!r} is not a valid name")
        for index, event_type in enumerate(self.event_types):
            if not isinstance(event_type, EventType):
                found.append(f"{label}.match.eventTypes[{index}] {event_type!r} is not one of {_allowed(EventType)}")
        if self.min_confidence is not None and not isinstance(self.min_confidence, Confidence):
            found.append(f"{label}.match.minConfidence {self.min_confidence!r} is not one of {_allowed(Confidence)}")
        return found

    def to_dict(self) -> dict[str, Any]:
        match: dict[str, Any] = {}
        for key, values in (
            ("securityProfiles", self.security_profiles),
            ("behaviors", self.behaviors),
            ("metrics", self.metrics),
            ("eventTypes", [e.value for e in self.event_types]),
        ):
            if values:
                match[key] = list(values)
        if self.min_confidence is not None:
            match["minConfidence"] = self.min_confidence.value
        return {"name": self.name, "match": match, "actions": [a.value for a in self.actions]}


@dataclass(frozen=True)
class RemediationPolicy:
    rules: tuple[RemediationRule, ...]
    exempt_groups: tuple[str, ...] = field(default=())

    def __init__(self, rules: Sequence[RemediationRule], *, exempt_groups: Sequence[str] = ()) -> None:
        object.__setattr__(self, "rules", tuple(rules))
        object.__setattr__(self, "exempt_groups", tuple(exempt_groups))

    @staticmethod
    def default() -> RemediationPolicy:
        """The documented default (README, "Remediation policy"): every in-alarm quarantines and
        notifies; everything else notifies."""
        return RemediationPolicy(
            [
                RemediationRule(
                    "quarantine-in-alarm",
                    actions=[RemediationAction.QUARANTINE, RemediationAction.NOTIFY],
                    event_types=[EventType.IN_ALARM],
                )
            ]
        )

    def problems(self) -> list[str]:
        found: list[str] = []
        names = [rule.name for rule in self.rules]
        for index, rule in enumerate(self.rules):
            found.extend(rule.problems(f"rules[{index}]"))
        for name in sorted({n for n in names if isinstance(n, str) and names.count(n) > 1}):
            found.append(f"rules: name '{name}' is used more than once")
        for index, group in enumerate(self.exempt_groups):
            if not isinstance(group, str) or not _NAME.match(group):
                found.append(f"exemptGroups[{index}] {group!r} is not a thing group name ([a-zA-Z0-9:_-], 1-128)")
        return found

    def validate(self) -> RemediationPolicy:
        problems = self.problems()
        if problems:
            raise PolicyError(problems)
        return self

    @property
    def actions(self) -> frozenset[RemediationAction]:
        """Every action some rule may take: what the function's IAM must allow."""
        return frozenset(action for rule in self.rules for action in rule.actions)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"version": POLICY_VERSION, "rules": [rule.to_dict() for rule in self.rules]}
        if self.exempt_groups:
            document["exemptGroups"] = list(self.exempt_groups)
        return document

    def to_json(self) -> str:
        return json.dumps(self.validate().to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, document: Any) -> RemediationPolicy:
        """Read and validate a policy document; every problem names its field."""
        problems = envelope_problems(document, "rules")
        rules_document = document.get("rules")
        if not isinstance(rules_document, list):
            problems.append(f"rules must be a list, got {type(rules_document).__name__}")
            rules_document = []
        exempt = document.get("exemptGroups", [])
        if not isinstance(exempt, list):
            problems.append(f"exemptGroups must be a list, got {type(exempt).__name__}")
            exempt = []
        rules = []
        for index, rule in enumerate(rules_document):
            parsed = _rule_from_dict(rule, f"rules[{index}]", problems)
            if parsed is not None:
                rules.append(parsed)
        policy = cls(rules, exempt_groups=exempt)
        problems.extend(problem for problem in policy.problems() if problem not in problems)
        if problems:
            raise PolicyError(problems)
        return policy

    @classmethod
    def from_json(cls, text: str) -> RemediationPolicy:
        return cls.from_dict(load_policy_json(text))


def _rule_from_dict(rule: Any, where: str, problems: list[str]) -> RemediationRule | None:
    if not isinstance(rule, Mapping):
        problems.append(f"{where} must be an object, got {type(rule).__name__}")
        return None
    unknown = set(rule) - {"name", "match", "actions"}
    if unknown:
        problems.append(f"{where} has unknown keys {sorted(unknown)}; allowed: name, match, actions")
    match = rule.get("match", {})
    if not isinstance(match, Mapping):
        problems.append(f"{where}.match must be an object, got {type(match).__name__}")
        match = {}
    unknown_match = set(match) - {"securityProfiles", "behaviors", "metrics", "eventTypes", "minConfidence"}
    if unknown_match:
        problems.append(
            f"{where}.match has unknown keys {sorted(unknown_match)}; allowed: securityProfiles, behaviors, "
            "metrics, eventTypes, minConfidence"
        )

    # A field of the wrong type is reported here once; a neutral stand-in keeps it from being
    # reported again as empty or invalid (the policy is rejected either way).
    def listed(value: Any, location: str, stand_in: list[Any]) -> list[Any]:
        if isinstance(value, list):
            return value
        problems.append(f"{location} must be a list, got {type(value).__name__}")
        return stand_in

    lists = {"actions": listed(rule.get("actions", []), f"{where}.actions", [RemediationAction.NOTIFY])}
    for key in ("securityProfiles", "behaviors", "metrics", "eventTypes"):
        lists[key] = listed(match.get(key, []), f"{where}.match.{key}", [])
    return RemediationRule(
        rule.get("name"),
        actions=lists["actions"],
        security_profiles=lists["securityProfiles"],
        behaviors=lists["behaviors"],
        metrics=lists["metrics"],
        event_types=lists["eventTypes"],
        min_confidence=match.get("minConfidence"),
    )


def envelope_problems(document: Any, body: str) -> list[str]:
    """What every policy document must be: a JSON object of ``version``, ``body`` and ``exemptGroups``.
    Not an object raises at once; the other problems are returned to be reported with the rest."""
    if not isinstance(document, Mapping):
        raise PolicyError([f"the policy must be a JSON object, got {type(document).__name__}"])
    problems: list[str] = []
    unknown = set(document) - {"version", body, "exemptGroups"}
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}; allowed: version, {body}, exemptGroups")
    if document.get("version", POLICY_VERSION) != POLICY_VERSION:
        problems.append(f"version {document.get('version')!r} is not supported; use {POLICY_VERSION}")
    return problems


def load_policy_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError([f"the policy is not valid JSON: {error}"]) from error


def coerce(kind: type[Enum], value: Any) -> Any:
    """The enum member when the value names one; otherwise the raw value, reported by ``problems()``."""
    try:
        return kind(value)
    except ValueError:
        return value


def _allowed(kind: type[Enum]) -> str:
    return ", ".join(member.value for member in kind)
