"""Configuration of the quarantine function, read and validated once per cold start."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lambdas.shared.remediation_policy import PolicyError, RemediationPolicy

_THING_GROUP_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
DEFAULT_MAX_QUARANTINES_PER_HOUR = 50


class ConfigurationError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


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
        limit_raw = environ.get("MAX_QUARANTINES_PER_HOUR", str(DEFAULT_MAX_QUARANTINES_PER_HOUR)).strip()
        limit = DEFAULT_MAX_QUARANTINES_PER_HOUR
        if not limit_raw.isdigit() or int(limit_raw) < 1:
            problems.append(f"MAX_QUARANTINES_PER_HOUR '{limit_raw}' must be a whole number of at least 1")
        else:
            limit = int(limit_raw)
        policy = RemediationPolicy.default()
        policy_raw = environ.get("REMEDIATION_POLICY", "").strip()
        if policy_raw:
            try:
                policy = RemediationPolicy.from_json(policy_raw)
            except PolicyError as error:
                problems.extend(f"REMEDIATION_POLICY {problem}" for problem in error.problems)
        if problems:
            raise ConfigurationError("invalid quarantine configuration: " + "; ".join(problems))
        return cls(
            quarantine_group_name=group,
            state_table_name=table,
            notify_topic_arn=topic,
            dry_run=dry_run_raw == "true",
            max_quarantines_per_hour=limit,
            policy=policy,
        )
