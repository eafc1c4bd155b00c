"""Datapoint values as the engine judges them: every value a record carries is checked against the
value kind of its metric when the record is taken in, so that a value the engine could not judge
(or an alert could not carry) fails its record alone instead of the whole batch.

- ``count``: an integer from 0 to 2**64-1 (the API's ``MetricValue.count`` is an UnsignedLong); an
  integral float (``5.0``) is read as the integer; a boolean, a string or a fraction is refused;
- ``number``: a finite number (a JSON ``1e400`` parses as infinity and is refused), as a ``float``;
- ``cidrs``: IP addresses or CIDRs as text, reduced to the address (``203.0.113.9:443`` and
  ``[2001:db8::1]:443`` as agents report endpoints give ``203.0.113.9`` and ``2001:db8::1``);
- ``ports``: integers 0-65535 (the API's ``Port``), never a boolean or a string such as ``"22"``;
- ``numbers``: finite numbers; ``strings``: strings that UTF-8 can encode (no lone surrogate).

The four list kinds take one value or a list, and always give a list. No string, list or number is
given back that the engine, the violation model or a JSON encoder could fail on.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from iot_defender_runtime.evaluation.criteria import MAX_PORT, address_text
from iot_defender_runtime.model.metric_catalog import ValueKind

MAX_COUNT = 2**64 - 1


def datapoint_value(kind: ValueKind, value: Any) -> Any:
    """``value`` ready for the engine; ``ValueError`` naming what is wrong when it does not fit ``kind``.

    Idempotent: a value it gave back is given back unchanged, so checking it again (against the kind a
    profile's behavior expects) only tells whether the kinds agree."""
    if kind is ValueKind.COUNT:
        return count(value)
    if kind is ValueKind.NUMBER:
        return finite(value)
    item = _ITEM_CHECKS[kind]
    items = value if isinstance(value, list | tuple) else [value]
    return [item(entry) for entry in items]


def count(value: Any) -> int:
    """An integer from 0 to 2**64-1."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"a count is an integer from 0 to 2**64-1, got {_shown(value)}")
    return value


def finite(value: Any) -> float:
    """A finite number as a float (an integer too large for a float is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a number is required, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError as error:
        raise ValueError("the number is too large") from error
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def port(value: Any) -> int:
    """A port: an integer 0-65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PORT:
        raise ValueError(f"a port is an integer from 0 to {MAX_PORT}, got {_shown(value)}")
    return value


def text(value: Any) -> str:
    """A string that UTF-8 can encode (JSON can carry a lone surrogate, SNS and DynamoDB cannot)."""
    if not isinstance(value, str):
        raise ValueError(f"a string is required, got {_shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("the string is not valid Unicode (a lone surrogate)") from error
    return value


def _cidr(value: Any) -> str:
    return address_text(value)


def _shown(value: Any) -> str:
    """The value as a reason shows it: its text when short, else its type."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return type(value).__name__
    if (isinstance(value, str) and len(value) > 40) or (isinstance(value, int) and value.bit_length() > 128):
        return f"a long {type(value).__name__}"
    return repr(value)


_ITEM_CHECKS: dict[ValueKind, Callable[[Any], Any]] = {
    ValueKind.CIDRS: _cidr,
    ValueKind.PORTS: port,
    ValueKind.NUMBERS: finite,
    ValueKind.STRINGS: text,
}
