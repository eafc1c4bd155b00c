"""Reading a synthesized self-hosted Detect template the way the evaluator will see it."""

from __future__ import annotations

import json
from typing import Any

EVALUATOR_HANDLER = "iot_defender_runtime.detect_evaluator.handler.lambda_handler"


def evaluator_variables(template: dict[str, Any]) -> dict[str, Any]:
    [function] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == EVALUATOR_HANDLER
    ]
    return function["Environment"]["Variables"]


def detect_profiles_text(template: dict[str, Any]) -> str:
    """``DETECT_PROFILES`` with each thing group reference replaced by the group's name, as at deploy time."""
    value = evaluator_variables(template)["DETECT_PROFILES"]
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    resources = template["Resources"]
    return separator.join(
        part if isinstance(part, str) else resources[part["Ref"]]["Properties"]["ThingGroupName"] for part in parts
    )


def detect_profiles(template: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(detect_profiles_text(template))["profiles"]
