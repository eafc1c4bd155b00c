"""Whether a value meets a behavior's criteria. Criteria describe a normal device; a datapoint
that does not meet them is a violating datapoint."""

from __future__ import annotations

import ipaddress
import operator as operator_module
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lambdas.model.metric_catalog import ComparisonOperator

Value = int | float | list[Any] | tuple[Any, ...]


def meets(
    operator: str, criteria_value: Mapping[str, Any] | None, value: Value, threshold: float | None = None
) -> bool:
    """``threshold`` replaces the criteria value for statistical behaviors (the fleet percentile)."""
    return compile_criteria(operator, criteria_value, threshold)(value)


def compile_criteria(
    operator: str, criteria_value: Mapping[str, Any] | None, threshold: float | None = None
) -> Callable[[Value], bool]:
    """The criteria as one function, built once per evaluation: the engine calls it per datapoint."""
    op = ComparisonOperator(operator)
    if op in _NUMERIC:
        limit = threshold if threshold is not None else _number(criteria_value)
        compare = _NUMERIC[op]
        return lambda value: compare(float(value), limit)  # type: ignore[arg-type]
    criteria_value = criteria_value or {}
    if op in (ComparisonOperator.IN_CIDR_SET, ComparisonOperator.NOT_IN_CIDR_SET):
        networks = [ipaddress.ip_network(c, strict=False) for c in criteria_value.get("cidrs", [])]

        def inside_cidrs(value: Value) -> list[bool]:
            return [any(address(item) in network for network in networks) for item in _as_list(value)]

        if op is ComparisonOperator.IN_CIDR_SET:
            return lambda value: all(inside_cidrs(value))
        return lambda value: not any(inside_cidrs(value))
    allowed = set(criteria_value.get("ports") or criteria_value.get("numbers") or criteria_value.get("strings") or [])
    if op in (ComparisonOperator.IN_PORT_SET, ComparisonOperator.IN_SET):
        return lambda value: all(item in allowed for item in _as_list(value))
    return lambda value: not any(item in allowed for item in _as_list(value))


_NUMERIC: dict[ComparisonOperator, Callable[[float, float], bool]] = {
    ComparisonOperator.LESS_THAN: operator_module.lt,
    ComparisonOperator.LESS_THAN_EQUALS: operator_module.le,
    ComparisonOperator.GREATER_THAN: operator_module.gt,
    ComparisonOperator.GREATER_THAN_EQUALS: operator_module.ge,
}


def _number(criteria_value: Mapping[str, Any] | None) -> float:
    if not criteria_value:
        raise ValueError("a numeric comparison needs a value or a threshold")
    return float(criteria_value.get("count", criteria_value.get("number")))


def _as_list(value: Value) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def address(item: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    text = str(item)
    if "/" in text:
        return ipaddress.ip_network(text, strict=False).network_address
    return ipaddress.ip_address(text.rsplit(":", 1)[0] if text.count(":") == 1 else text)


def percentile(values: Iterable[float], statistic: str) -> float:
    """Nearest-rank percentile of the fleet's aggregates (``p90`` is the 90th percentile)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no fleet values to take a percentile of")
    rank = float(statistic.removeprefix("p")) / 100
    index = max(0, min(len(ordered) - 1, int(-(-rank * len(ordered) // 1)) - 1))
    return ordered[index]
