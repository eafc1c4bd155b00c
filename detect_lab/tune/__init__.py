"""Tune: thresholds and ``consecutiveDatapointsToAlarm`` that meet a target false alarm rate on the
windows of normal devices, the trade-off behind each, and the result as ``Behavior.rule(...)`` code
and API JSON.

    tuning = tune(Windows.from_history(result.history), profiles, target_false_alarms=1.0,
                  labels=fleet.labels, observed=result.observed, things=result.things)
    tuning.profiles(), rule_code(tuning), api_json(tuning)
"""

from detect_lab.tune.output import api_json, api_json_text, rule_call, rule_code, tradeoff_table
from detect_lab.tune.tuner import (
    DEFAULT_HEADROOM,
    MAX_TARGET,
    MIN_TARGET,
    Candidate,
    Proposal,
    Tuning,
    TuningError,
    check_target,
    tune,
    tune_replay,
)

__all__ = [
    "DEFAULT_HEADROOM",
    "MAX_TARGET",
    "MIN_TARGET",
    "Candidate",
    "Proposal",
    "Tuning",
    "TuningError",
    "api_json",
    "api_json_text",
    "check_target",
    "rule_call",
    "rule_code",
    "tradeoff_table",
    "tune",
    "tune_replay",
]
