"""Audit remediator entry point: SQS batches of audit-completion notifications (SNS-wrapped or raw)
and direct SNS events. For each non-compliant check of a completed audit it pages through
``ListAuditFindings`` and handles each finding once (Powertools idempotency on ``findingId``, or on a
key derived from the task, check, resource and time of a finding without one: ``finding_key``).
A record that fails (unreadable, throttled past retries, held by the breaker) is reported alone in
``batchItemFailures``; findings already handled are skipped when it comes back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from iot_defender_runtime.adapters.idempotency_store import state_table_store
from iot_defender_runtime.adapters.iot_registry import AuditFindings, IotRegistry
from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.audit_remediation.finding_key import finding_key
from iot_defender_runtime.audit_remediation.notification import AuditNotification, parse_audit_message
from iot_defender_runtime.audit_remediation.remediator import AuditRemediator
from iot_defender_runtime.model.audit_checks import check_from_name
from iot_defender_runtime.remediation.actions import QuarantineHeldError
from iot_defender_runtime.remediation.batch_intake import UnreadableRecordError, new_processor, read_body, run_batch
from iot_defender_runtime.remediation.breaker import AUDIT_BREAKER_ID, QuarantineBreaker
from iot_defender_runtime.remediation.config import AuditRemediationConfig
from iot_defender_runtime.remediation.observability import tracer_for

__all__ = [
    "UnreadableRecordError",
    "handle_notification",
    "lambda_handler",
    "read_notification",
    "runtime",
]  # UnreadableRecordError: what read_* raise

SERVICE = "audit-remediator"
IDEMPOTENCY_SECONDS = 7 * 24 * 3600  # longer than any audit schedule's retry horizon

logger = Logger(service=SERVICE)
tracer = tracer_for(SERVICE)  # a real Tracer only when tracing is on (no X-Ray SDK import otherwise)
metrics = Metrics(namespace="DeviceDefender/AuditRemediation", service=SERVICE)


@dataclass(frozen=True)
class Runtime:
    config: AuditRemediationConfig
    idempotency: IdempotencyConfig
    findings: AuditFindings
    notifier: Notifier
    process: Callable[..., dict[str, Any]]


@cache
def runtime() -> Runtime:
    """Built once per cold start; a bad environment fails here with the variable named."""
    config = AuditRemediationConfig.from_environment(os.environ)
    findings = AuditFindings()
    notifier = Notifier(config.notify_topic_arn)
    remediator = AuditRemediator(
        config=config,
        findings=findings,
        registry=IotRegistry(),
        notifier=notifier,
        records=QuarantineRecords(config.state_table_name),
        breaker=QuarantineBreaker(config.state_table_name, config.max_actions_per_hour, breaker_id=AUDIT_BREAKER_ID),
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="findingId", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
    )  # on {"findingId": finding_key(...)}: the same hash as before for a finding with an id
    persistence = state_table_store(config.state_table_name)

    @idempotent_function(
        data_keyword_argument="identity", persistence_store=persistence, config=idempotency, key_prefix="audit-finding"
    )
    def process(identity: dict[str, str], finding: dict[str, Any], check: Any) -> dict[str, Any]:
        result = remediator.handle(check, finding, key=identity["findingId"])
        if result.actions_taken:
            metrics.add_metric(name="FindingsRemediated", unit=MetricUnit.Count, value=1)
        elif config.dry_run and len(result.actions) > 1:
            metrics.add_metric(name="DryRunDecisions", unit=MetricUnit.Count, value=1)
        return {"actionsTaken": list(result.actions_taken), "skipped": list(result.skipped)}

    return Runtime(config, idempotency, findings, notifier, process)


@cache
def batch_processor() -> Any:
    """One Powertools ``BatchProcessor`` per process, built with the first batch (it imports botocore)."""
    return new_processor()


def read_notification(body: str) -> AuditNotification:
    return read_body(body, "a Device Defender audit notification", parse_audit_message)


@tracer.capture_method
def handle_notification(notification: AuditNotification) -> None:
    current = runtime()
    if notification.task_status != "COMPLETED":
        current.notifier.publish(
            f"Device Defender audit {notification.task_status}: {notification.task_id}",
            {"source": "iot-device-defender-constructs/audit", "audit": notification.model_dump(by_alias=True)},
        )
        return
    for detail in notification.non_compliant_checks:
        check = check_from_name(detail.check_name)
        if check is None:
            logger.warning("unknown audit check; findings not read", extra={"check_name": detail.check_name})
            continue
        for finding in current.findings.non_compliant(notification.task_id, check.value):
            key = finding_key(finding, task_id=notification.task_id, check_name=check.value)
            try:
                current.process(identity={"findingId": key}, finding=finding, check=check)
            except QuarantineHeldError as error:
                metrics.add_metric(name="HeldActions", unit=MetricUnit.Count, value=1)
                if error.newly_tripped:
                    metrics.add_metric(name="BreakerTrips", unit=MetricUnit.Count, value=1)
                logger.warning(str(error), extra={"task_id": notification.task_id, "finding_id": key})
                raise
    logger.info("audit handled", extra={"task_id": notification.task_id})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime().idempotency.register_lambda_context(context)
    return run_batch(
        event,
        context,
        handle_body=lambda body: handle_notification(read_notification(body)),
        processor=batch_processor(),
        logger=logger,
        metrics=metrics,
    )
