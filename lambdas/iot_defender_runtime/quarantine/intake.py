"""How a violation reaches the quarantine function: an SQS body or SNS message that is either an
SNS notification wrapping the violation (raw delivery off) or the violation JSON itself (raw
delivery on). The unwrapping is the remediation kit's (``iot_defender_runtime.remediation.batch_intake``, which
says which Powertools parser pieces it uses and why not the envelopes); the violation is parsed
with the Powertools parser into ``ViolationEvent``."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.remediation.batch_intake import unwrapped


class NotAViolationError(ValueError):
    """The record body is valid JSON but holds no violation event."""


def parse_violation_message(body: str) -> ViolationEvent:
    """Parse an SQS body or SNS message: either an SNS notification wrapping the violation
    (raw delivery off) or the violation JSON itself (raw delivery on).

    Raises ``json.JSONDecodeError`` (not JSON), ``NotAViolationError`` (not an object, nested too
    deep, not strict JSON, a string that is no UTF-8, anything else the parser raised) or
    ``pydantic.ValidationError`` (missing or invalid fields, an epoch time no date can hold). Nothing
    else: every reason a body is not a violation is a ``ValueError`` that says why."""
    payload = unwrapped(body, error=NotAViolationError)
    try:
        return parse(event=payload, model=ViolationEvent)
    except ValidationError:
        raise
    except (OverflowError, OSError, RecursionError, TypeError, ValueError) as error:
        # pydantic reports a ValueError raised by a validator as a field error; any of these raised past
        # it (by a validator, or by pydantic on input it was never meant to see) is still the body's fault.
        raise NotAViolationError(f"{type(error).__name__}: {str(error)[:300]}") from error
