"""How a violation reaches the quarantine function: an SQS body or SNS message that is either an
SNS notification wrapping the violation (raw delivery off) or the violation JSON itself (raw
delivery on). The unwrapping is the remediation kit's (``iot_defender_runtime.remediation.batch_intake``, which
says which Powertools parser pieces it uses and why not the envelopes); the violation is parsed
with the Powertools parser into ``ViolationEvent``."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import parse

from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.remediation.batch_intake import unwrapped


class NotAViolationError(ValueError):
    """The record body is valid JSON but holds no violation event."""


def parse_violation_message(body: str) -> ViolationEvent:
    """Parse an SQS body or SNS message: either an SNS notification wrapping the violation
    (raw delivery off) or the violation JSON itself (raw delivery on).

    Raises ``json.JSONDecodeError`` (not JSON), ``NotAViolationError`` (not an object, nested too
    deep, a number out of range) or ``pydantic.ValidationError`` (missing or invalid fields)."""
    payload = unwrapped(body, error=NotAViolationError)
    try:
        return parse(event=payload, model=ViolationEvent)
    except (OverflowError, OSError) as error:
        # An epoch time past what the platform's datetime holds (1e300, 10**20) raises these, not a ValueError,
        # so pydantic lets them through instead of reporting the field.
        raise NotAViolationError(f"a number is out of range ({error})") from error
