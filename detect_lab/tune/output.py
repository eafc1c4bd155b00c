"""The tuner's proposals, ready to use: ``Behavior.rule(...)`` code for the constructs
(``constructs_lib.detect.behavior``), and the API JSON (``CreateSecurityProfile`` / ``UpdateSecurityProfile``
``behaviors``), checked against botocore's ``iot`` service model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from detect_lab.tune.tuner import Proposal, Tuning
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition
from iot_defender_runtime.model.metric_catalog import ComparisonOperator

_DURATIONS = {300: "Duration.minutes(5)", 600: "Duration.minutes(10)", 900: "Duration.minutes(15)"}
_DURATIONS |= {1800: "Duration.minutes(30)", 3600: "Duration.hours(1)"}


def rule_call(definition: BehaviorDefinition, indent: str = "    ") -> str:
    """``Behavior.rule(...)`` that builds ``definition`` (a rule behavior), one argument a line."""
    operator = ComparisonOperator(definition.comparison_operator)
    value = next(iter((definition.value or {}).values()))
    arguments = [
        repr(definition.name),
        f"metric={definition.metric!r}",
        f"operator=ComparisonOperator.{operator.name}",
        f"value={_literal(value)}",
    ]
    if definition.duration_seconds is not None:
        arguments.append(f"duration={_DURATIONS[definition.duration_seconds]}")
    if definition.consecutive_datapoints_to_alarm != 1:
        arguments.append(f"datapoints_to_alarm={definition.consecutive_datapoints_to_alarm}")
    if definition.consecutive_datapoints_to_clear != 1:
        arguments.append(f"datapoints_to_clear={definition.consecutive_datapoints_to_clear}")
    if definition.suppress_alerts:
        arguments.append("suppress_alerts=True")
    inner = "".join(f"{indent}    {argument},\n" for argument in arguments)
    return f"Behavior.rule(\n{inner}{indent})"


def _literal(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(repr(item) for item in value) + "]"
    return repr(value)


def rule_code(tuning: Tuning) -> str:
    """A Python module defining ``TUNED_BEHAVIORS``: profile name -> its tuned behaviors, as
    ``Behavior.rule(...)`` calls (a statistical behavior, which the tuner keeps, as a comment)."""
    lines = [
        '"""Behaviors proposed by the Detect lab\'s tuner '
        f'(target: {tuning.target_false_alarms:g} false alarms per 1,000 device-days)."""',
        "",
        "from aws_cdk import Duration",
        "",
        "from constructs_lib import Behavior, ComparisonOperator",
        "",
        "TUNED_BEHAVIORS = {",
    ]
    for profile, behaviors in tuning.profiles().by_profile.items():
        lines.append(f"    {profile!r}: [")
        for behavior in behaviors:
            if behavior.definition.comparison_operator is None or behavior.definition.statistic is not None:
                lines.append(f"        # {behavior.definition.name}: kept as configured (not a rule behavior)")
                continue
            lines.append(f"        {rule_call(behavior.definition, indent='        ')},")
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines) + "\n"


def api_json(tuning: Tuning) -> dict[str, Any]:
    """``{"securityProfiles": [{"securityProfileName", "behaviors"}]}``: each profile's tuned behaviors as
    ``CreateSecurityProfile`` takes them, validated against botocore's model.

    :raises ValueError: if botocore's model refuses a profile (a bug in the tuner, never the user's input).
    """
    profiles = [
        {"securityProfileName": name, "behaviors": [b.definition.to_api() for b in behaviors]}
        for name, behaviors in tuning.profiles().by_profile.items()
    ]
    for profile in profiles:
        validate_create_security_profile(profile)
    return {"securityProfiles": profiles}


def validate_create_security_profile(parameters: Mapping[str, Any]) -> None:
    """Check ``CreateSecurityProfile`` parameters against botocore's ``iot`` model (types, ranges,
    patterns); ``ValueError`` with botocore's report when they do not fit."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("iot")
    shape = model.operation_model("CreateSecurityProfile").input_shape
    report = ParamValidator().validate(dict(parameters), shape)
    if report.has_errors():
        raise ValueError(report.generate_report())


def api_json_text(tuning: Tuning) -> str:
    return json.dumps(api_json(tuning), indent=2) + "\n"


def tradeoff_table(proposal: Proposal) -> str:
    """The trade-off as a Markdown table: a row per candidate threshold, a column per
    ``consecutiveDatapointsToAlarm``, each cell the false alarms per 1,000 device-days and, with
    labels, the attacks detected (``0.00 / 4 of 5``); the proposal in bold. Empty for a proposal
    without candidates (a set metric, a behavior not tuned)."""
    if not proposal.candidates:
        return ""
    ks = sorted({c.consecutive for c in proposal.candidates})
    header = "| threshold | " + " | ".join(f"{k} in a row" for k in ks) + " |"
    lines = [header, "|---:|" + "---:|" * len(ks)]
    for threshold in sorted({c.threshold for c in proposal.candidates}):
        cells = []
        for k in ks:
            found = next(c for c in proposal.candidates if c.threshold == threshold and c.consecutive == k)
            cell = f"{found.false_alarms_per_1000_device_days:.2f}"
            if found.detected is not None:
                cell += f" / {found.detected} of {found.attacks}"
            cells.append(f"**{cell}**" if found == proposal.chosen else cell)
        lines.append(f"| {threshold:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
