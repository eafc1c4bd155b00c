"""How a violation reaches the quarantine function: an SQS body or SNS message that is either an
SNS notification wrapping the violation (raw delivery off) or the violation JSON itself (raw
delivery on)."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambdas.model.violation import ViolationEvent


class NotAViolationError(ValueError):
    """The record body is valid JSON but holds no violation event."""


class _SnsEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(alias="Type")
    message: str = Field(alias="Message")

    @model_validator(mode="after")
    def _is_notification(self) -> _SnsEnvelope:
        if self.type != "Notification":
            raise ValueError(f"SNS message of Type '{self.type}' is not a Notification")
        return self


def parse_violation_message(message: str) -> ViolationEvent:
    """Parse an SQS body or SNS message: either an SNS notification wrapping the violation
    (raw delivery off) or the violation JSON itself (raw delivery on)."""
    payload = json.loads(message)
    if not isinstance(payload, dict):
        raise NotAViolationError(f"expected a JSON object, got {type(payload).__name__}")
    if "Type" in payload and "Message" in payload:
        payload = json.loads(_SnsEnvelope.model_validate(payload).message)
        if not isinstance(payload, dict):
            raise NotAViolationError(f"expected a JSON object in the SNS Message, got {type(payload).__name__}")
    return parse(event=payload, model=ViolationEvent)
