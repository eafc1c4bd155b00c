"""The self-hosted evaluator's configuration: security profiles as behavior definitions
(``DETECT_PROFILES``), validated at cold start with the same rules as the constructs use at synth.

    {"profiles": [{"name": "sensors",
                   "behaviors": [<API Behavior JSON>, ...],
                   "customMetrics": {"battery_percent": "number"}}]}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.shared.behavior_definition import BehaviorDefinition, BehaviorKind, problems
from lambdas.shared.metric_catalog import METRICS, CustomMetricType, MetricSpec, custom_metric_spec
from lambdas.shared.remediation_policy import PolicyError

_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")


@dataclass(frozen=True)
class ProfileBehavior:
    profile: str
    definition: BehaviorDefinition
    spec: MetricSpec


@dataclass(frozen=True)
class DetectProfiles:
    behaviors: tuple[ProfileBehavior, ...]

    def for_metric(self, metric: str) -> list[ProfileBehavior]:
        return [b for b in self.behaviors if b.definition.metric == metric]

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
            for position, behavior in enumerate(profile.get("behaviors", [])):
                where = f"profiles[{index}].behaviors[{position}]"
                try:
                    definition = BehaviorDefinition.from_api(behavior)
                except (KeyError, TypeError, AttributeError) as error:
                    found.append(f"{where} is not an API Behavior ({error!r})")
                    continue
                if definition.kind is not BehaviorKind.RULE:
                    found.append(
                        f"{where} ('{definition.name}') is a {definition.kind.value} behavior; the self-hosted "
                        "evaluator runs rule behaviors (ML and statistical need managed Detect in this release)"
                    )
                    continue
                spec = custom.get(definition.metric) or METRICS.get(definition.metric)
                found.extend(f"{where}: {problem}" for problem in problems(definition, spec))
                if spec is not None:
                    behaviors.append(ProfileBehavior(name, definition, spec))
        if found:
            raise PolicyError(found)
        return cls(tuple(behaviors))


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
