"""Checking JSON-like values against a shape of botocore's ``iot`` service model, recursively: member
names, required members, types, enums, lengths, ranges and patterns, as the API defines them.

Timestamps: the API's ``Timestamp`` is a ``datetime`` as boto3 returns it (``timestamps="datetime"``);
the SNS alert of managed Detect carries ``violationEventTime`` as epoch milliseconds, an integer
(``timestamps="epoch_ms"``), which is what the evaluator publishes.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from functools import cache
from typing import Any, Literal

import botocore.session

Timestamps = Literal["datetime", "epoch_ms"]

# Java regex classes used by the iot model's patterns, in Python's syntax
_JAVA_CLASSES = {r"\p{Cntrl}": r"\x00-\x1f\x7f"}


@cache
def api_shape(name: str) -> Any:
    return botocore.session.get_session().get_service_model("iot").shape_for(name)


def problems(value: Any, shape: Any, where: str = "", *, timestamps: Timestamps = "datetime") -> list[str]:
    """Where ``value`` breaks ``shape``; ``[]`` when it conforms."""
    where = where or shape.name
    check = _CHECKS.get(shape.type_name)
    if check is None:
        return [f"{where}: shape type {shape.type_name} is not checked here"]
    return check(value, shape, where, timestamps)


def _structure(value: Any, shape: Any, where: str, timestamps: Timestamps) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    found = [f"{where}.{name}: not a member of {shape.name}" for name in value if name not in shape.members]
    found += [f"{where}.{name}: required, missing" for name in shape.required_members if name not in value]
    for name, member in value.items():
        if name in shape.members:
            found += problems(member, shape.members[name], f"{where}.{name}", timestamps=timestamps)
    return found


def _list(value: Any, shape: Any, where: str, timestamps: Timestamps) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}: {value!r} is not a list"]
    found = _bounds(len(value), shape.metadata, where, "length")
    for index, item in enumerate(value):
        found += problems(item, shape.member, f"{where}[{index}]", timestamps=timestamps)
    return found


def _map(value: Any, shape: Any, where: str, timestamps: Timestamps) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    found: list[str] = []
    for key, item in value.items():
        found += problems(key, shape.key, f"{where} key", timestamps=timestamps)
        found += problems(item, shape.value, f"{where}[{key!r}]", timestamps=timestamps)
    return found


def _string(value: Any, shape: Any, where: str, _: Timestamps) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: {value!r} is not a string"]
    if shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} is not one of {shape.enum}"]
    found = _bounds(len(value), shape.metadata, where, "length")
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not re.fullmatch(_python_pattern(pattern), value):
        found.append(f"{where}: {value!r} does not match {pattern}")
    return found


def _integer(value: Any, shape: Any, where: str, _: Timestamps) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{where}: {value!r} is not an integer ({shape.type_name})"]
    found = _bounds(value, shape.metadata, where, "value")
    if shape.type_name == "long" and not -(2**63) <= value < 2**64:
        found.append(f"{where}: {value!r} does not fit 64 bits")
    return found


def _double(value: Any, shape: Any, where: str, _: Timestamps) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: {value!r} is not a number"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: {value!r} is not finite (JSON has no such number)"]
    return _bounds(value, shape.metadata, where, "value")


def _boolean(value: Any, shape: Any, where: str, _: Timestamps) -> list[str]:
    return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]


def _timestamp(value: Any, shape: Any, where: str, timestamps: Timestamps) -> list[str]:
    if timestamps == "datetime":
        return [] if isinstance(value, datetime) and value.tzinfo else [f"{where}: {value!r} is not an aware datetime"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return [f"{where}: {value!r} is not epoch milliseconds (a non-negative integer)"]
    return []


def _bounds(size: float, metadata: dict[str, Any], where: str, what: str) -> list[str]:
    low, high = metadata.get("min"), metadata.get("max")
    if (low is not None and size < low) or (high is not None and size > high):
        return [f"{where}: {what} {size!r} is outside {low}..{high}"]
    return []


def _python_pattern(pattern: str) -> str:
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    if r"\p{" in pattern:
        raise AssertionError(f"pattern {pattern} uses a Java class this checker does not translate")
    return pattern


_CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "double": _double,
    "float": _double,
    "boolean": _boolean,
    "timestamp": _timestamp,
}
