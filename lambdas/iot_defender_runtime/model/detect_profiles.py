"""The self-hosted evaluator's configuration: security profiles as behavior definitions
(``DETECT_PROFILES``). This module owns its shape: ``write_profiles`` renders it (the
``SelfHostedDetect`` construct calls it at synth) and ``DetectProfiles.from_json`` reads it back (the
evaluator, at cold start, with the same rules as the constructs use at synth).

    {"profiles": [{"name": "sensors",
                   "behaviors": [<API Behavior JSON>, ...],
                   "customMetrics": {"battery_percent": "number"},
                   "dimensions": {"telemetry": {"type": "TOPIC_FILTER",
                                                "stringValues": ["dt/+/telemetry"]}},
                   "targets": {"thingGroups": ["sensors"], "registeredThings": false,
                               "unregisteredThings": false}}]}

``behaviorsGzip`` (base64 of the gzip of the behaviors' JSON) may stand for ``behaviors``: the
writer uses it when the plain JSON would not fit in the function's environment (4 KB in all).

``dimensions`` (only when a behavior has a ``metricDimension``) holds the TOPIC_FILTER dimensions its
behaviors name, as ``CreateDimension`` takes them (``type``, ``stringValues``): the evaluator resolves
each behavior's dimension to its topic filters (``ProfileBehavior.topic_filter``); a behavior naming a
dimension the profile does not define is refused.

``targets`` is what the profile watches, as a security profile's targets: things in those groups
(directly or through a child group), every registered thing, every unregistered client. Without
``targets`` the profile watches every client that reports.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind, problems
from iot_defender_runtime.model.metric_catalog import (
    METRICS,
    CustomMetricType,
    DurationRule,
    MetricSource,
    MetricSpec,
    ValueKind,
    custom_metric_spec,
)
from iot_defender_runtime.model.remediation_policy import PolicyError
from iot_defender_runtime.model.topic_filter import TopicScope, dimension_problems

_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
MAX_PROFILES_JSON_CHARACTERS = 3000
"""The most ``DETECT_PROFILES`` may hold: the function's environment is 4 KB in all."""
_CUSTOM_TYPES = {
    ValueKind.NUMBER: CustomMetricType.NUMBER,
    ValueKind.NUMBERS: CustomMetricType.NUMBER_LIST,
    ValueKind.STRINGS: CustomMetricType.STRING_LIST,
    ValueKind.CIDRS: CustomMetricType.IP_ADDRESS_LIST,
}


# The writer


class JudgedBehavior(Protocol):
    """What the writer needs of a behavior: ``ProfileBehavior`` and the constructs' ``Behavior`` both have it."""

    @property
    def definition(self) -> BehaviorDefinition: ...

    @property
    def spec(self) -> MetricSpec: ...


@dataclass(frozen=True)
class TargetsDocument:
    """A profile's ``targets`` as written: the thing groups in order (names, or CDK token strings that
    resolve to names at deploy time), and whether every registered or unregistered thing is watched."""

    thing_groups: tuple[str, ...] = ()
    registered_things: bool = False
    unregistered_things: bool = False


@dataclass(frozen=True)
class ProfileDocument:
    """One profile as ``write_profiles`` takes it; ``targets`` None watches every client that reports;
    ``dimensions``: the topic filters of each TOPIC_FILTER dimension its behaviors name."""

    name: str
    behaviors: Sequence[JudgedBehavior]
    targets: TargetsDocument | None = None
    dimensions: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def render(self, *, compress: bool = False, unresolved: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """This profile as one entry of ``profiles``; ``compress`` gives ``behaviorsGzip`` unless ``unresolved``
        says the behaviors' JSON holds a token (which cannot be resolved inside gzip)."""
        behaviors = [b.definition.to_api() for b in self.behaviors]
        rendered: dict[str, Any] = {"name": self.name}
        if compress and not (unresolved and unresolved(json.dumps(behaviors))):
            rendered["behaviorsGzip"] = compress_behaviors(behaviors)
        else:
            rendered["behaviors"] = behaviors
        custom = {
            b.definition.metric: _CUSTOM_TYPES[b.spec.value_kind].value
            for b in self.behaviors
            if b.spec.source is MetricSource.CUSTOM
        }
        if custom:
            rendered["customMetrics"] = custom
        if self.dimensions:
            rendered["dimensions"] = {
                name: {"type": "TOPIC_FILTER", "stringValues": list(filters)}
                for name, filters in self.dimensions.items()
            }
        if self.targets is not None:
            rendered["targets"] = {
                "thingGroups": list(self.targets.thing_groups),
                "registeredThings": self.targets.registered_things,
                "unregisteredThings": self.targets.unregistered_things,
            }
        return rendered


def write_profiles(profiles: Sequence[ProfileDocument], *, unresolved: Callable[[str], bool] | None = None) -> str:
    """``DETECT_PROFILES`` for ``profiles``: plain JSON, or with ``behaviorsGzip`` (about five times as many
    behaviors fit) when the plain JSON is longer than ``MAX_PROFILES_JSON_CHARACTERS``. Strings pass through
    as they are, so CDK tokens in them (thing group names) survive to be resolved in the template; give
    ``unresolved`` (``Token.is_unresolved``) to keep behaviors that hold a token out of gzip.

    :raises PolicyError: when even the compressed JSON does not fit.
    """
    document = _dump(profiles, compress=False, unresolved=unresolved)
    if len(document) > MAX_PROFILES_JSON_CHARACTERS:
        document = _dump(profiles, compress=True, unresolved=unresolved)
    if len(document) > MAX_PROFILES_JSON_CHARACTERS:
        raise PolicyError(
            [
                f"the profiles are {len(document)} characters as compressed JSON; at most "
                f"{MAX_PROFILES_JSON_CHARACTERS} fit in the evaluator's environment: split them over two "
                "SelfHostedDetect constructs"
            ]
        )
    return document


def _dump(profiles: Sequence[ProfileDocument], *, compress: bool, unresolved: Callable[[str], bool] | None) -> str:
    rendered = [profile.render(compress=compress, unresolved=unresolved) for profile in profiles]
    return json.dumps({"profiles": rendered}, separators=(",", ":"))


# The reader


@dataclass(frozen=True)
class ProfileTargets:
    thing_groups: frozenset[str] = frozenset()
    registered_things: bool = False
    unregistered_things: bool = False

    @property
    def everything(self) -> bool:
        return not self.thing_groups and self.registered_things == self.unregistered_things

    def watches(self, membership: frozenset[str] | None) -> bool:
        """``membership``: the thing's groups, or None for a client that is not a registered thing."""
        if self.everything:
            return True
        if membership is None:
            return self.unregistered_things
        return self.registered_things or not self.thing_groups.isdisjoint(membership)


EVERYTHING = ProfileTargets()


@dataclass(frozen=True)
class ProfileBehavior:
    """``dimension_filters``: the topic filters of the behavior's dimension (empty without one)."""

    profile: str
    definition: BehaviorDefinition
    spec: MetricSpec
    targets: ProfileTargets = EVERYTHING
    dimension_filters: tuple[str, ...] = ()

    @cached_property
    def topic_filter(self) -> TopicScope | None:
        """Which datapoints the behavior counts, by their MQTT topic (``topic_filter(topic)``, ``topic``
        None for a datapoint without one); None when the behavior has no dimension and counts them all."""
        if self.definition.dimension is None:
            return None
        return TopicScope(self.dimension_filters, self.definition.dimension.operator)


@dataclass(frozen=True)
class DetectProfiles:
    behaviors: tuple[ProfileBehavior, ...]

    @cached_property
    def by_profile(self) -> dict[str, tuple[ProfileBehavior, ...]]:
        """Each profile's behaviors, in order; a profile's behaviors share its targets."""
        found: dict[str, list[ProfileBehavior]] = {}
        for behavior in self.behaviors:
            found.setdefault(behavior.profile, []).append(behavior)
        return {name: tuple(behaviors) for name, behaviors in found.items()}

    @cached_property
    def profiles_by_metric(self) -> dict[str, tuple[str, ...]]:
        """The profiles that have a behavior on each metric."""
        found: dict[str, list[str]] = {}
        for behavior in self.behaviors:
            names = found.setdefault(behavior.definition.metric, [])
            if behavior.profile not in names:
                names.append(behavior.profile)
        return {metric: tuple(names) for metric, names in found.items()}

    @classmethod
    def from_json(cls, text: str) -> DetectProfiles:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise PolicyError([f"not valid JSON: {error}"]) from error
        found: list[str] = []
        behaviors: list[ProfileBehavior] = []
        profiles = document.get("profiles") if isinstance(document, Mapping) else None
        if not isinstance(profiles, list) or not profiles:
            raise PolicyError(["profiles must be a non-empty list"])
        for index, profile in enumerate(profiles):
            name = profile.get("name") if isinstance(profile, Mapping) else None
            if not isinstance(name, str) or not _NAME.match(name):
                found.append(f"profiles[{index}].name {name!r} must be 1 to 128 characters of [a-zA-Z0-9:_-]")
                continue
            custom = _custom_specs(profile.get("customMetrics", {}), f"profiles[{index}]", found)
            targets = _targets(profile.get("targets"), f"profiles[{index}]", found)
            dimensions = _dimensions(profile.get("dimensions", {}), f"profiles[{index}]", found)
            for position, behavior in enumerate(_behaviors(profile, f"profiles[{index}]", found)):
                where = f"profiles[{index}].behaviors[{position}]"
                try:
                    definition = BehaviorDefinition.from_api(behavior)
                except (KeyError, TypeError, AttributeError) as error:
                    found.append(f"{where} is not an API Behavior ({error!r})")
                    continue
                spec = custom.get(definition.metric) or METRICS.get(definition.metric)
                unsupported = self_hosted_problem(definition, spec)
                if unsupported:
                    found.append(f"{where} ('{definition.name}') {unsupported}")
                    continue
                found.extend(f"{where}: {problem}" for problem in problems(definition, spec))
                filters: tuple[str, ...] = ()
                if definition.dimension is not None:
                    if definition.dimension.name not in dimensions:
                        found.append(
                            f"{where} ('{definition.name}') uses the dimension '{definition.dimension.name}', which "
                            f"profiles[{index}].dimensions does not define"
                        )
                        continue
                    filters = dimensions[definition.dimension.name]
                if spec is not None:
                    behaviors.append(ProfileBehavior(name, definition, spec, targets, filters))
        if found:
            raise PolicyError(found)
        return cls(tuple(behaviors))


def self_hosted_problem(definition: BehaviorDefinition, spec: MetricSpec | None) -> str | None:
    """Why the self-hosted evaluator cannot run a behavior that managed Detect can, or None."""
    if definition.kind is BehaviorKind.STATISTICAL and spec is not None and spec.duration is DurationRule.NONE:
        return (
            f"is a statistical behavior on {spec.name}, which is judged per message or per report; the "
            "self-hosted evaluator takes percentiles of window totals, so use a rule behavior or managed Detect"
        )
    return None


def compress_behaviors(behaviors: list[dict[str, Any]]) -> str:
    """The ``behaviorsGzip`` form of a profile's behaviors."""
    text = json.dumps(behaviors, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(text, mtime=0)).decode()


def _behaviors(profile: Mapping[str, Any], where: str, found: list[str]) -> list[Any]:
    if "behaviorsGzip" not in profile:
        behaviors = profile.get("behaviors", [])
        return behaviors if isinstance(behaviors, list) else []
    try:
        behaviors = json.loads(gzip.decompress(base64.b64decode(profile["behaviorsGzip"], validate=True)))
    except (ValueError, OSError, EOFError, TypeError) as error:
        found.append(f"{where}.behaviorsGzip is not base64 of gzip JSON ({error!r})")
        return []
    if not isinstance(behaviors, list):
        found.append(f"{where}.behaviorsGzip is not a list of behaviors")
        return []
    return behaviors


def _targets(document: Any, where: str, found: list[str]) -> ProfileTargets:
    if document is None:
        return EVERYTHING
    groups = document.get("thingGroups", []) if isinstance(document, Mapping) else None
    flags = [document.get(k, False) for k in ("registeredThings", "unregisteredThings")] if groups is not None else []
    if (
        groups is None
        or not isinstance(groups, list)
        or not all(isinstance(g, str) and g for g in groups)
        or not all(isinstance(f, bool) for f in flags)
    ):
        found.append(
            f"{where}.targets must be an object with thingGroups (a list of names), registeredThings and "
            "unregisteredThings (true or false)"
        )
        return EVERYTHING
    if not groups and not any(flags):
        found.append(f"{where}.targets names nothing to watch; give thing groups or set a flag, or leave it out")
    return ProfileTargets(frozenset(groups), flags[0], flags[1])


def _dimensions(document: Any, where: str, found: list[str]) -> dict[str, tuple[str, ...]]:
    """The profile's TOPIC_FILTER dimensions, name to topic filters."""
    dimensions: dict[str, tuple[str, ...]] = {}
    if not isinstance(document, Mapping):
        found.append(f"{where}.dimensions must be an object of name to dimension")
        return dimensions
    for name, dimension in document.items():
        values = dimension.get("stringValues") if isinstance(dimension, Mapping) else None
        if (
            not isinstance(dimension, Mapping)
            or dimension.get("type") != "TOPIC_FILTER"
            or not isinstance(values, list)
        ):
            found.append(f'{where}.dimensions.{name} must be {{"type": "TOPIC_FILTER", "stringValues": [...]}}')
            continue
        found.extend(f"{where}.dimensions.{name}: {problem}" for problem in dimension_problems(name, values))
        dimensions[name] = tuple(values)
    return dimensions


def _custom_specs(document: Any, where: str, found: list[str]) -> dict[str, MetricSpec]:
    specs: dict[str, MetricSpec] = {}
    if not isinstance(document, Mapping):
        found.append(f"{where}.customMetrics must be an object of name to type")
        return specs
    for name, metric_type in document.items():
        try:
            specs[name] = custom_metric_spec(name, CustomMetricType(metric_type))
        except ValueError:
            found.append(f"{where}.customMetrics.{name} type {metric_type!r} is not a custom metric type")
    return specs
