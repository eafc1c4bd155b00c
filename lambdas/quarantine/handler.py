"""Quarantine function entry point: SQS batches (SNS-wrapped or raw violations) and direct SNS events.

One bad record never blocks the batch: it is logged with its reason and reported in
``batchItemFailures``, so that SQS retries it alone and then moves it to the dead-letter queue.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas.quarantine.decision import Outcome
from lambdas.quarantine.responder import QuarantineResponder
from lambdas.shared.config import QuarantineConfig
from lambdas.shared.iot_registry import IotRegistry
from lambdas.shared.notifications import Notifier
from lambdas.shared.quarantine_records import QuarantineRecords
from lambdas.shared.violation import NotAViolationError, ViolationEvent, parse_violation_message

logger = Logger(service="quarantine-responder")
tracer = Tracer(service="quarantine-responder")
metrics = Metrics(namespace="DeviceDefender/Quarantine", service="quarantine-responder")
# Report every failed record individually, even when the whole batch fails.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class UnreadableRecordError(ValueError):
    """The record body is not a violation event; the message says why."""


@cache
def responder() -> QuarantineResponder:
    """Built once per cold start; a bad environment fails here with the variable named."""
    config = QuarantineConfig.from_environment(os.environ)
    return QuarantineResponder(
        config=config,
        registry=IotRegistry(),
        notifier=Notifier(config.notify_topic_arn),
        records=QuarantineRecords(config.state_table_name),
    )


def read_violation(body: str) -> ViolationEvent:
    try:
        return parse_violation_message(body)
    except (ValueError, ValidationError, NotAViolationError) as error:
        reason = _short_reason(error)
        raise UnreadableRecordError(f"not a Device Defender violation event: {reason}") from error


def _short_reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
        )
    return str(error)[:500]


@tracer.capture_method
def handle_violation(violation: ViolationEvent) -> None:
    result = responder().handle(violation)
    logger.info(
        "violation handled",
        extra={
            "violation_id": violation.violation_id,
            "thing_name": violation.thing_name,
            "outcome": result.decision.outcome.value,
            "actions_taken": list(result.actions_taken),
            "dry_run": result.dry_run,
        },
    )
    if result.decision.outcome is Outcome.QUARANTINE:
        metrics.add_metric(
            name="DryRunQuarantines" if result.dry_run else "Quarantines", unit=MetricUnit.Count, value=1
        )


def _sqs_record_handler(record: SQSRecord) -> None:
    try:
        violation = read_violation(record.body)
    except UnreadableRecordError as error:
        logger.warning("rejected record", extra={"message_id": record.message_id, "reason": str(error)})
        metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
        raise
    handle_violation(violation)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and all(record.get("EventSource") == "aws:sns" for record in records):
        # Direct SNS subscription: no partial batches; raising makes Lambda retry the
        # asynchronous invocation and then send it to the function's failure destination.
        for record in records:
            handle_violation(read_violation(record["Sns"]["Message"]))
        return {"batchItemFailures": []}
    return process_partial_response(
        event=event, record_handler=_sqs_record_handler, processor=processor, context=context
    )
