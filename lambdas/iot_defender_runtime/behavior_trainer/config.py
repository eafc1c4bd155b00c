"""The trainer's configuration, read from the environment and validated once per cold start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.remediation_policy import PolicyError

REQUIRED = ("STATE_TABLE_NAME", "HISTORY_WORKGROUP", "HISTORY_DATABASE", "HISTORY_TABLE")


class ConfigurationError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    state_table_name: str
    workgroup: str
    database: str
    table: str
    profiles: DetectProfiles


@cache
def config() -> Config:
    values = {name: os.environ.get(name, "") for name in REQUIRED}
    problems = [f"{name} is required and was not set" for name, value in values.items() if not value]
    profiles = DetectProfiles(())
    try:
        profiles = DetectProfiles.from_json(os.environ.get("DETECT_PROFILES", ""))
    except PolicyError as error:
        problems.extend(f"DETECT_PROFILES {problem}" for problem in error.problems)
    if problems:
        raise ConfigurationError("invalid trainer configuration: " + "; ".join(problems))
    return Config(
        values["STATE_TABLE_NAME"],
        values["HISTORY_WORKGROUP"],
        values["HISTORY_DATABASE"],
        values["HISTORY_TABLE"],
        profiles,
    )
