"""What a subcommand returns, how it is printed, and the errors that end it with exit status 2."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class UsageError(Exception):
    """Bad usage, or something the command refuses to do; the message says why (exit status 2)."""


@dataclass(frozen=True)
class Result:
    """``data`` is printed as JSON with ``--json``, ``text`` otherwise; a ``refusal`` (printed to
    standard error) ends the command with exit status 2 after its output."""

    data: dict[str, Any]
    text: str
    refusal: str | None = None

    def render(self, as_json: bool) -> str:
        return json.dumps(self.data, indent=2, sort_keys=True, default=_json_value) if as_json else self.text


def iso(moment: float | datetime | None) -> str | None:
    """Epoch seconds or a datetime as ISO 8601 in UTC, to the second."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
