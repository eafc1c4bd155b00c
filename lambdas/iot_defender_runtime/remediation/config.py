"""Configuration of the quarantine function, read and validated once per cold start."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from iot_defender_runtime.model.audit_remediation_policy import AuditRemediationPolicy
from iot_defender_runtime.model.remediation_policy import PolicyError, RemediationPolicy

_THING_GROUP_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
DEFAULT_MAX_QUARANTINES_PER_HOUR = 50
P = TypeVar("P")


class ConfigurationError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class _Common:
    quarantine_group_name: str
    state_table_name: str
    notify_topic_arn: str
    dry_run: bool


def _read_common(environ: Mapping[str, str], problems: list[str]) -> _Common:
    """The variables both remediation functions read (README, "Architecture" and the runtime contracts)."""

    def required(name: str) -> str:
        value = environ.get(name, "").strip()
        if not value:
            problems.append(f"{name} is required and was not set")
        return value

    group = required("QUARANTINE_GROUP_NAME")
    if group and not _THING_GROUP_NAME.match(group):
        problems.append(f"QUARANTINE_GROUP_NAME '{group}' is not a thing group name ([a-zA-Z0-9:_-], 1-128)")
    table = required("STATE_TABLE_NAME")
    topic = required("NOTIFY_TOPIC_ARN")
    if topic and not _TOPIC_ARN.match(topic):
        problems.append(f"NOTIFY_TOPIC_ARN '{topic}' is not an SNS topic ARN")
    dry_run_raw = environ.get("DRY_RUN", "false").strip().lower()
    if dry_run_raw not in ("true", "false"):
        problems.append(f"DRY_RUN '{environ.get('DRY_RUN')}' must be 'true' or 'false'")
    return _Common(group, table, topic, dry_run_raw == "true")


def _read_limit(environ: Mapping[str, str], name: str, problems: list[str]) -> int:
    raw = environ.get(name, str(DEFAULT_MAX_QUARANTINES_PER_HOUR)).strip()
    if not raw.isdigit() or int(raw) < 1:
        problems.append(f"{name} '{raw}' must be a whole number of at least 1")
        return DEFAULT_MAX_QUARANTINES_PER_HOUR
    return int(raw)


def _read_policy(
    environ: Mapping[str, str], name: str, parse: Callable[[str], P], default: P, problems: list[str]
) -> P:
    """An optional policy variable: the default when unset, every problem named with the variable."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except PolicyError as error:
        problems.extend(f"{name} {problem}" for problem in error.problems)
        return default


@dataclass(frozen=True)
class QuarantineConfig:
    quarantine_group_name: str
    state_table_name: str
    notify_topic_arn: str
    dry_run: bool
    max_quarantines_per_hour: int = DEFAULT_MAX_QUARANTINES_PER_HOUR
    policy: RemediationPolicy = field(default_factory=RemediationPolicy.default)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> QuarantineConfig:
        """Validate every variable and report all problems in one error."""
        problems: list[str] = []
        common = _read_common(environ, problems)
        limit = _read_limit(environ, "MAX_QUARANTINES_PER_HOUR", problems)
        policy = _read_policy(
            environ, "REMEDIATION_POLICY", RemediationPolicy.from_json, RemediationPolicy.default(), problems
        )
        if problems:
            raise ConfigurationError("invalid quarantine configuration: " + "; ".join(problems))
        return cls(
            quarantine_group_name=common.quarantine_group_name,
            state_table_name=common.state_table_name,
            notify_topic_arn=common.notify_topic_arn,
            dry_run=common.dry_run,
            max_quarantines_per_hour=limit,
            policy=policy,
        )


@dataclass(frozen=True)
class AuditRemediationConfig:
    quarantine_group_name: str
    state_table_name: str
    notify_topic_arn: str
    dry_run: bool
    max_actions_per_hour: int = DEFAULT_MAX_QUARANTINES_PER_HOUR
    policy: AuditRemediationPolicy = field(default_factory=AuditRemediationPolicy.default)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AuditRemediationConfig:
        problems: list[str] = []
        common = _read_common(environ, problems)
        limit = _read_limit(environ, "MAX_ACTIONS_PER_HOUR", problems)
        policy = _read_policy(
            environ,
            "AUDIT_REMEDIATION_POLICY",
            AuditRemediationPolicy.from_json,
            AuditRemediationPolicy.default(),
            problems,
        )
        if problems:
            raise ConfigurationError("invalid audit remediation configuration: " + "; ".join(problems))
        return cls(
            quarantine_group_name=common.quarantine_group_name,
            state_table_name=common.state_table_name,
            notify_topic_arn=common.notify_topic_arn,
            dry_run=common.dry_run,
            max_actions_per_hour=limit,
            policy=policy,
        )
