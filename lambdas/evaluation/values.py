"""Datapoint values as the engine judges them: checked against the value kind of their metric when a
record is taken in, so that a value the engine could not judge (or an alert could not carry) fails
its record alone instead of the whole batch.

- ``count`` and ``number``: a finite number (a numeric string is read as one; a boolean is not a
  number); a count that is integral becomes an ``int``, a number a ``float``;
- ``cidrs``: an IP address or network as a string (``ip:port`` as agents report it), or a list of them;
- ``ports``: an integer 0-65535, or a list of them;
- ``numbers``: a finite number, or a list of them; ``strings``: a string, or a list of them.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lambdas.evaluation.criteria import address
from lambdas.model.metric_catalog import ValueKind

MAX_PORT = 65535


def datapoint_value(kind: ValueKind, value: Any) -> Any:
    """``value`` ready for the engine; ``ValueError`` naming what is wrong when it does not fit ``kind``."""
    if kind is ValueKind.COUNT or kind is ValueKind.NUMBER:
        number = _finite(value)
        return int(number) if kind is ValueKind.COUNT and number.is_integer() else number
    check = _ITEM_CHECKS[kind]
    for item in value if isinstance(value, list | tuple) else (value,):
        check(item)
    return value


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a number is required, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError as error:
        raise ValueError("the number is too large") from error
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _cidr(item: Any) -> None:
    if not isinstance(item, str):
        raise ValueError(f"an IP address is a string, got {type(item).__name__}")
    address(item)  # ValueError when it is not an address


def _port(item: Any) -> None:
    if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_PORT:
        raise ValueError(f"a port is an integer from 0 to {MAX_PORT}, got {item!r}")


def _number_item(item: Any) -> None:
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        raise ValueError(f"a number-list item is a finite number, got {item!r}")


def _string(item: Any) -> None:
    if not isinstance(item, str):
        raise ValueError(f"a string-list item is a string, got {type(item).__name__}")


_ITEM_CHECKS: dict[ValueKind, Callable[[Any], None]] = {
    ValueKind.CIDRS: _cidr,
    ValueKind.PORTS: _port,
    ValueKind.NUMBERS: _number_item,
    ValueKind.STRINGS: _string,
}
