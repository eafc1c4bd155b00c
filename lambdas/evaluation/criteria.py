"""Whether a value meets a behavior's criteria. Criteria describe a normal device; a datapoint
that does not meet them is a violating datapoint."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from lambdas.shared.metric_catalog import ComparisonOperator

Value = int | float | list[Any] | tuple[Any, ...]


def meets(
    operator: str, criteria_value: Mapping[str, Any] | None, value: Value, threshold: float | None = None
) -> bool:
    """``threshold`` replaces the criteria value for statistical behaviors (the fleet percentile)."""
    op = ComparisonOperator(operator)
    if op in (
        ComparisonOperator.LESS_THAN,
        ComparisonOperator.LESS_THAN_EQUALS,
        ComparisonOperator.GREATER_THAN,
        ComparisonOperator.GREATER_THAN_EQUALS,
    ):
        limit = threshold if threshold is not None else _number(criteria_value)
        number = float(value)  # type: ignore[arg-type]
        return {
            ComparisonOperator.LESS_THAN: number < limit,
            ComparisonOperator.LESS_THAN_EQUALS: number <= limit,
            ComparisonOperator.GREATER_THAN: number > limit,
            ComparisonOperator.GREATER_THAN_EQUALS: number >= limit,
        }[op]
    items = _as_list(value)
    criteria_value = criteria_value or {}
    if op in (ComparisonOperator.IN_CIDR_SET, ComparisonOperator.NOT_IN_CIDR_SET):
        networks = [ipaddress.ip_network(c, strict=False) for c in criteria_value.get("cidrs", [])]
        inside = [any(_address(item) in network for network in networks) for item in items]
        return all(inside) if op is ComparisonOperator.IN_CIDR_SET else not any(inside)
    allowed = set(criteria_value.get("ports") or criteria_value.get("numbers") or criteria_value.get("strings") or [])
    inside = [item in allowed for item in items]
    if op in (ComparisonOperator.IN_PORT_SET, ComparisonOperator.IN_SET):
        return all(inside)
    return not any(inside)


def _number(criteria_value: Mapping[str, Any] | None) -> float:
    if not criteria_value:
        raise ValueError("a numeric comparison needs a value or a threshold")
    return float(criteria_value.get("count", criteria_value.get("number")))


def _as_list(value: Value) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _address(item: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
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
