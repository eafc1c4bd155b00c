"""The evaluator's configuration, read from the environment and validated once per cold start."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.remediation_policy import PolicyError

# Device Defender invalidates the alarms of a device that reports no metrics for two days
# (ViolationEvent "alarm-invalidated"; AWS IoT Device Defender developer guide, Detect concepts:
# https://docs.aws.amazon.com/iot-device-defender/latest/devguide/detect-concepts.html).
DEFAULT_SILENCE_SECONDS = 2 * 24 * 3600
# Firehose stream names (the firehose API model's DeliveryStreamName).
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,64}")


class ConfigurationError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    state_table_name: str
    alert_topic_arn: str
    profiles: DetectProfiles
    silence_seconds: float
    max_clock_skew_seconds: float
    membership_cache_seconds: float = 300.0
    stream_arn: str = ""  # the datapoint stream, read by the sweep to find how far the evaluator has got
    history_stream_name: str = ""  # the window history's Firehose stream; empty: the history is off


@cache
def config() -> Config:
    problems: list[str] = []
    table = os.environ.get("STATE_TABLE_NAME", "")
    topic = os.environ.get("ALERT_TOPIC_ARN", "")
    for name, value in (("STATE_TABLE_NAME", table), ("ALERT_TOPIC_ARN", topic)):
        if not value:
            problems.append(f"{name} is required and was not set")
    profiles = DetectProfiles(())
    try:
        profiles = DetectProfiles.from_json(os.environ.get("DETECT_PROFILES", ""))
    except PolicyError as error:
        problems.extend(f"DETECT_PROFILES {problem}" for problem in error.problems)
    numbers = {}
    for name, default in (
        ("SILENCE_SECONDS", str(DEFAULT_SILENCE_SECONDS)),
        ("MAX_CLOCK_SKEW_SECONDS", "60"),
        ("MEMBERSHIP_CACHE_SECONDS", "300"),
    ):
        raw = os.environ.get(name, default)
        if not raw.isdigit():
            problems.append(f"{name} '{raw}' must be a whole number of seconds")
        numbers[name] = float(raw) if raw.isdigit() else float(default)
    history = os.environ.get("HISTORY_STREAM_NAME", "")
    if history and not _STREAM_NAME.fullmatch(history):
        problems.append(f"HISTORY_STREAM_NAME '{history}' must be 1 to 64 characters of [a-zA-Z0-9_.-]")
    if problems:
        raise ConfigurationError("invalid evaluator configuration: " + "; ".join(problems))
    return Config(
        table,
        topic,
        profiles,
        numbers["SILENCE_SECONDS"],
        numbers["MAX_CLOCK_SKEW_SECONDS"],
        numbers["MEMBERSHIP_CACHE_SECONDS"],
        os.environ.get("STREAM_ARN", ""),
        history,
    )
