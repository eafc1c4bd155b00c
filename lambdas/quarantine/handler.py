"""Quarantine function entry point: SQS batches (SNS-wrapped or raw violations) and direct SNS events.

One bad record never blocks the batch: it is logged with its reason and reported in
``batchItemFailures``, so that SQS retries it alone and then moves it to the dead-letter queue.
Each violation event (``violationId`` + ``violationEventType``) is acted on once, however often SNS
and SQS deliver it (Powertools idempotency in the state table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas.quarantine.decision import Outcome
from lambdas.quarantine.responder import QuarantineHeldError, QuarantineResponder, Result
from lambdas.shared.aws_clients import client
from lambdas.shared.config import QuarantineConfig
from lambdas.shared.iot_registry import IotRegistry
from lambdas.shared.notifications import Notifier
from lambdas.shared.quarantine_breaker import QuarantineBreaker
from lambdas.shared.quarantine_records import QuarantineRecords
from lambdas.shared.remediation_policy import RemediationAction
from lambdas.shared.violation import NotAViolationError, ViolationEvent, parse_violation_message

SERVICE = "quarantine-responder"
# A Detect violation is a few KB; anything this large is not one (SQS allows 256 KiB).
MAX_BODY_BYTES = 64 * 1024
IDEMPOTENCY_SECONDS = 24 * 3600

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="DeviceDefender/Quarantine", service=SERVICE)
# Report every failed record individually, even when the whole batch fails.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class UnreadableRecordError(ValueError):
    """The record body is not a violation event; the message says why."""


@dataclass(frozen=True)
class Runtime:
    config: QuarantineConfig
    idempotency: IdempotencyConfig
    process: Callable[..., dict[str, Any]]


@cache
def runtime() -> Runtime:
    """Built once per cold start; a bad environment fails here with the variable named."""
    config = QuarantineConfig.from_environment(os.environ)
    responder = QuarantineResponder(
        config=config,
        registry=IotRegistry(),
        notifier=Notifier(config.notify_topic_arn),
        records=QuarantineRecords(config.state_table_name),
        breaker=QuarantineBreaker(config.state_table_name, config.max_quarantines_per_hour),
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="[violationId, violationEventType]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=config.state_table_name, key_attr="id", expiry_attr="expiresAt", boto3_client=client("dynamodb")
    )

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence,
        config=idempotency,
        key_prefix="quarantine-violation",
    )
    def process(payload: dict[str, Any], violation: ViolationEvent) -> dict[str, Any]:
        result = responder.handle(violation)
        _record_metrics(result)
        return {"outcome": result.decision.outcome.value, "actionsTaken": list(result.actions_taken)}

    return Runtime(config=config, idempotency=idempotency, process=process)


def read_violation(body: str) -> ViolationEvent:
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise UnreadableRecordError(f"record body is not valid UTF-8 (at character {error.start})") from error
    if size > MAX_BODY_BYTES:
        raise UnreadableRecordError(f"record body is {size} bytes; a violation event is at most {MAX_BODY_BYTES}")
    try:
        return parse_violation_message(body)
    except json.JSONDecodeError as error:
        raise UnreadableRecordError(f"not a Device Defender violation event: not valid JSON ({error})") from error
    except (ValidationError, NotAViolationError, ValueError) as error:
        raise UnreadableRecordError(f"not a Device Defender violation event: {_short_reason(error)}") from error


def _short_reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
        )
    return str(error)[:500]


def _record_metrics(result: Result) -> None:
    if result.decision.outcome is not Outcome.REMEDIATE:
        return
    if result.dry_run:
        metrics.add_metric(name="DryRunDecisions", unit=MetricUnit.Count, value=1)
        return
    for action, name in (
        (RemediationAction.QUARANTINE, "Quarantines"),
        (RemediationAction.DEACTIVATE_CERTIFICATES, "CertificateDeactivations"),
        (RemediationAction.RELEASE, "Releases"),
    ):
        if result.decision.takes(action):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@tracer.capture_method
def handle_violation(violation: ViolationEvent) -> None:
    current = runtime()
    try:
        summary = current.process(payload=violation.model_dump(mode="json", by_alias=True), violation=violation)
    except QuarantineHeldError as error:
        metrics.add_metric(name="HeldQuarantines", unit=MetricUnit.Count, value=1)
        if error.newly_tripped:
            metrics.add_metric(name="BreakerTrips", unit=MetricUnit.Count, value=1)
        logger.warning(str(error), extra={"violation_id": violation.violation_id})
        raise
    logger.info(
        "violation handled",
        extra={"violation_id": violation.violation_id, "thing_name": violation.thing_name, **summary},
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
    runtime().idempotency.register_lambda_context(context)
    records = event.get("Records") or []
    if records and all(record.get("EventSource") == "aws:sns" for record in records):
        # Direct SNS subscription: no partial batches; raising makes Lambda retry the
        # asynchronous invocation and then send it to the function's dead-letter queue.
        for record in records:
            handle_violation(read_violation(record["Sns"]["Message"]))
        return {"batchItemFailures": []}
    return process_partial_response(
        event=event, record_handler=_sqs_record_handler, processor=processor, context=context
    )
