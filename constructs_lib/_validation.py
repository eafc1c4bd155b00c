"""Synth-time validation: collect every problem, then raise once with all of them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aws_cdk import Duration, Token
from constructs import IConstruct

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")


class ConstructValidationError(ValueError):
    """A construct argument is wrong; the message names the argument, the value and what is allowed."""

    def __init__(self, construct_path: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{construct_path}: " + "; ".join(self.problems))


def raise_if_any(where: IConstruct | tuple[IConstruct, str], problems: list[str]) -> None:
    """Raise with every problem, prefixed by the construct path (a construct, or a scope and the id
    about to be created). The path is only looked up on failure: each lookup is a jsii round trip."""
    if not problems:
        return
    path = f"{where[0].node.path}/{where[1]}" if isinstance(where, tuple) else where.node.path
    raise ConstructValidationError(path, problems)


def may_be_token(value: str) -> bool:
    """Cheap pre-check before ``Token.is_unresolved`` (a jsii call): encoded string tokens hold ``${Token[``."""
    return "${Token[" in value and Token.is_unresolved(value)


def check_name(argument: str, value: str | None, problems: list[str]) -> None:
    """Device Defender and thing-group names: 1 to 128 of ``[a-zA-Z0-9:_-]``; tokens are checked at deploy."""
    if value is None or (isinstance(value, str) and may_be_token(value)):
        return
    if not NAME_PATTERN.match(value):
        problems.append(f"{argument} '{value}' must be 1 to 128 characters of [a-zA-Z0-9:_-]")


def check_duration(argument: str, value: object, problems: list[str], *, example: str = "Duration.minutes(5)") -> bool:
    """True when ``value`` is an ``aws_cdk.Duration``; otherwise a problem saying what to pass."""
    if isinstance(value, Duration):
        return True
    problems.append(f"{argument} {value!r} must be an aws_cdk.Duration, e.g. {example}")
    return False
