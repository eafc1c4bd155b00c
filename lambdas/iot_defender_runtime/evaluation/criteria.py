"""Whether a value meets a behavior's criteria. Criteria describe a normal device; a datapoint
that does not meet them is a violating datapoint."""

from __future__ import annotations

import functools
import ipaddress
import operator as operator_module
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from iot_defender_runtime.model.metric_catalog import ComparisonOperator

Value = int | float | list[Any] | tuple[Any, ...]
MAX_PORT = 65535


def meets(
    operator: str, criteria_value: Mapping[str, Any] | None, value: Value, threshold: float | None = None
) -> bool:
    """``threshold`` replaces the criteria value for statistical behaviors (the fleet percentile)."""
    return compile_criteria(operator, criteria_value, threshold)(value)


def compile_criteria(
    operator: str, criteria_value: Mapping[str, Any] | None, threshold: float | None = None
) -> Callable[[Value], bool]:
    """The criteria as one function: the engine calls it per datapoint. Built once per criteria object,
    operator and threshold (a batch evaluates the same behavior for every thing it carries); the cache
    keeps the criteria object itself, so its id is not reused while the entry lives."""
    key = (id(criteria_value), operator, threshold)
    cached = _COMPILED.get(key)
    if cached is not None and cached[0] is criteria_value:
        return cached[1]
    compiled = _compile(operator, criteria_value, threshold)
    if len(_COMPILED) >= _MAX_COMPILED:
        _COMPILED.clear()
    _COMPILED[key] = (criteria_value, compiled)
    return compiled


_MAX_COMPILED = 1024
_COMPILED: dict[tuple[int, str, float | None], tuple[Mapping[str, Any] | None, Callable[[Value], bool]]] = {}


def _compile(
    operator: str, criteria_value: Mapping[str, Any] | None, threshold: float | None
) -> Callable[[Value], bool]:
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


MAX_ENDPOINT_LENGTH = 64  # "[" + 39-character IPv6 + "]:" + 5-digit port, with room for a zone id
_BRACKETED = re.compile(r"\[([^\[\]]+)\](?::(\d{1,5}))?")
_IPV4_PORT = re.compile(r"([0-9.]+):(\d{1,5})")


def address(item: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IP address of an endpoint as agents report it, or of a CIDR (its network address).

    Forms: ``a.b.c.d``, ``a.b.c.d:port``, an IPv6 address (``2001:db8::1``), ``[2001:db8::1]`` and
    ``[2001:db8::1]:port`` (the agent SDK's form for IPv6 peers), and ``a.b.c.d/n`` or ``2001:db8::/32``.
    A zone id (``fe80::1%eth0``) is dropped: the API's ``Cidr`` has no room for it. Raises ``ValueError``
    naming the text for anything else (a port outside 0-65535 included); never another error.
    """
    if not isinstance(item, str):
        raise ValueError(f"an IP address is a string, got {type(item).__name__}")
    return _address(item)


# A fleet reports the same few endpoints over and over: parsing each text once saves a tenth of a batch.
# Failures are not cached (lru_cache keeps results only), so a bad text raises every time.
@functools.lru_cache(maxsize=16_384)
def _address(item: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not 0 < len(item) <= MAX_ENDPOINT_LENGTH:
        raise ValueError(f"an IP address has 1 to {MAX_ENDPOINT_LENGTH} characters, got {len(item)}")
    if "/" in item:
        return ipaddress.ip_network(item, strict=False).network_address
    host, port, bracketed = _host_and_port(item)
    if port is not None and int(port) > MAX_PORT:
        raise ValueError(f"{item!r}: port {port} is outside 0-{MAX_PORT}")
    found = ipaddress.ip_address(host.split("%", 1)[0])
    if bracketed and found.version != 6:
        raise ValueError(f"{item!r}: only an IPv6 address is written in brackets")
    return found


def address_text(item: Any) -> str:
    """``item`` reduced to its address (``"203.0.113.9:443"`` -> ``"203.0.113.9"``), or a CIDR in its
    canonical form; the text matches the API's ``Cidr`` pattern, so an alert can always carry it."""
    if not isinstance(item, str):
        return str(address(item))  # raises, naming the type
    return _address_text(item)


@functools.lru_cache(maxsize=16_384)
def _address_text(item: str) -> str:
    if "/" in item and len(item) <= MAX_ENDPOINT_LENGTH:
        return str(ipaddress.ip_network(item, strict=False))
    return str(_address(item))


def _host_and_port(text: str) -> tuple[str, str | None, bool]:
    """(host, port or None, whether the host was in brackets)."""
    bracketed = _BRACKETED.fullmatch(text)
    if bracketed:
        return bracketed.group(1), bracketed.group(2), True
    with_port = _IPV4_PORT.fullmatch(text)
    if with_port:
        return with_port.group(1), with_port.group(2), False
    return text, None, False


def percentile(values: Iterable[float], statistic: str) -> float:
    """Nearest-rank percentile of the fleet's aggregates (``p90`` is the 90th percentile)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no fleet values to take a percentile of")
    rank = float(statistic.removeprefix("p")) / 100
    index = max(0, min(len(ordered) - 1, int(-(-rank * len(ordered) // 1)) - 1))
    return ordered[index]
