"""Quarantine function entry point: SQS batches (SNS-wrapped or raw violations) and direct SNS events.

One bad record never blocks the batch: it is logged with its reason and reported in
``batchItemFailures``, so that SQS retries it alone and then moves it to the dead-letter queue.
Each violation event (``violationId`` + ``violationEventType``) is acted on once, however often SNS
and SQS deliver it (Powertools idempotency in the state table), and an event already handled makes
no IoT call: idempotency is checked before the responder reads the registry.

Cold start: importing this module imports neither boto3 nor the X-Ray SDK. The adapters (boto3) and
Powertools idempotency (which imports boto3) are imported by ``runtime()``, once, at the first
invocation; the Tracer is built only when tracing is on (``remediation.observability``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from iot_defender_runtime.model.remediation_policy import RemediationAction
from iot_defender_runtime.model.violation import ViolationEvent
from iot_defender_runtime.quarantine.decision import Outcome
from iot_defender_runtime.quarantine.intake import parse_violation_message
from iot_defender_runtime.quarantine.responder import QuarantineHeldError, QuarantineResponder, Result
from iot_defender_runtime.remediation.batch_intake import UnreadableRecordError, new_processor, read_body, run_batch
from iot_defender_runtime.remediation.config import QuarantineConfig
from iot_defender_runtime.remediation.observability import tracer_for

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = [
    "UnreadableRecordError",
    "handle_violation",
    "lambda_handler",
    "read_violation",
    "runtime",
]  # UnreadableRecordError: what read_* raise

SERVICE = "quarantine-responder"
IDEMPOTENCY_SECONDS = 24 * 3600

logger = Logger(service=SERVICE)
tracer = tracer_for(SERVICE)
metrics = Metrics(namespace="DeviceDefender/Quarantine", service=SERVICE)


@dataclass(frozen=True)
class Runtime:
    config: QuarantineConfig
    idempotency: IdempotencyConfig
    process: Callable[..., dict[str, Any]]


@cache
def runtime() -> Runtime:
    """Built once per cold start, at the first invocation; a bad environment fails here with the variable named."""
    config = QuarantineConfig.from_environment(os.environ)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    from iot_defender_runtime.adapters.idempotency_store import state_table_store
    from iot_defender_runtime.adapters.iot_registry import IotRegistry
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
    from iot_defender_runtime.adapters.sns_notifier import Notifier
    from iot_defender_runtime.remediation.breaker import QuarantineBreaker

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
    persistence = state_table_store(config.state_table_name)

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


@cache
def batch_processor() -> Any:
    """One Powertools ``BatchProcessor`` per process, built with the first batch (it imports botocore)."""
    return new_processor()


def read_violation(body: str) -> ViolationEvent:
    return read_body(body, "a Device Defender violation event", parse_violation_message)


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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime().idempotency.register_lambda_context(context)
    return run_batch(
        event,
        context,
        handle_body=lambda body: handle_violation(read_violation(body)),
        processor=batch_processor(),
        logger=logger,
        metrics=metrics,
    )
