"""Synth-time validation: collect every problem, then raise once with all of them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aws_cdk import Token

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")


class ConstructValidationError(ValueError):
    """A construct argument is wrong; the message names the argument, the value and what is allowed."""

    def __init__(self, construct_path: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{construct_path}: " + "; ".join(self.problems))


def raise_if_any(construct_path: str, problems: list[str]) -> None:
    if problems:
        raise ConstructValidationError(construct_path, problems)


def check_name(argument: str, value: str | None, problems: list[str]) -> None:
    """Device Defender and thing-group names: 1 to 128 of ``[a-zA-Z0-9:_-]``; tokens are checked at deploy."""
    if value is None or Token.is_unresolved(value):
        return
    if not NAME_PATTERN.match(value):
        problems.append(f"{argument} '{value}' must be 1 to 128 characters of [a-zA-Z0-9:_-]")
