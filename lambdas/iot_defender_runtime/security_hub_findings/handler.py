"""Security Hub findings function: SQS batches of messages from the alert topic (violations) and the
notification topic (quarantine decisions, audit remediations), each imported as one ASFF finding.

One bad record never blocks the batch: an unreadable one, or one Security Hub refuses, fails alone
(``batchItemFailures``), is retried and then dead-lettered. Importing is idempotent by nature: the same
message builds the same finding (same ``Id``), which Security Hub updates in place.

Configuration (read once per cold start): ``FINDINGS_ACCOUNT_ID``, ``AWS_REGION`` (set by Lambda),
``FINDINGS_PARTITION`` (default ``aws``) and ``SEVERITY_BY_BEHAVIOR`` (JSON: behavior name to an ASFF
severity label; default none).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from iot_defender_runtime.model.security_finding import FindingContext, SeverityLabel, finding_of
from iot_defender_runtime.remediation.batch_intake import read_body, run_batch, unwrapped
from iot_defender_runtime.remediation.observability import tracer_for

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from iot_defender_runtime.adapters.security_hub import SecurityHubFindings

SERVICE = "security-hub-findings"
NAMESPACE = "DeviceDefender/SecurityHub"

logger = Logger(service=SERVICE)
tracer = tracer_for(SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class ConfigurationError(ValueError):
    """A variable of the function's environment is missing or wrong; the message names it."""


def context_from_environment(environ: Mapping[str, str]) -> FindingContext:
    """The account, region, partition and severity overrides, or ``ConfigurationError`` naming the variable."""
    account, region = environ.get("FINDINGS_ACCOUNT_ID", ""), environ.get("AWS_REGION", "")
    if not (account.isdigit() and len(account) == 12):
        raise ConfigurationError(f"FINDINGS_ACCOUNT_ID {account!r} must be a 12-digit account id")
    if not region:
        raise ConfigurationError("AWS_REGION is not set")
    try:
        overrides = json.loads(environ.get("SEVERITY_BY_BEHAVIOR") or "{}")
        severities = {str(name): SeverityLabel(label) for name, label in dict(overrides).items()}
    except (ValueError, TypeError) as error:
        allowed = ", ".join(label.value for label in SeverityLabel)
        raise ConfigurationError(
            f"SEVERITY_BY_BEHAVIOR must be a JSON object of behavior names to one of {allowed}: {error}"
        ) from error
    return FindingContext(
        account=account,
        region=region,
        partition=environ.get("FINDINGS_PARTITION") or "aws",
        severity_by_behavior=severities,
    )


@cache
def runtime() -> tuple[FindingContext, SecurityHubFindings]:
    """Built once per cold start, at the first invocation (the adapter imports boto3)."""
    from iot_defender_runtime.adapters.security_hub import SecurityHubFindings

    return context_from_environment(os.environ), SecurityHubFindings()


@cache
def batch_processor() -> Any:
    from iot_defender_runtime.remediation.batch_intake import new_processor

    return new_processor()


def read_finding(body: str, context: FindingContext, *, now: datetime) -> dict[str, Any] | None:
    """The finding a record body carries (raw delivery or an SNS notification), None for a notice that
    reports none, or ``UnreadableRecordError``."""
    return read_body(
        body,
        "a violation, quarantine decision or audit remediation",
        lambda text: finding_of(unwrapped(text), context, now=now),
    )


@tracer.capture_method
def import_body(body: str) -> None:
    context, security_hub = runtime()
    finding = read_finding(body, context, now=datetime.now(tz=UTC))
    if finding is None:
        metrics.add_metric(name="NoticesSkipped", unit=MetricUnit.Count, value=1)
        logger.info("notice skipped: it reports no finding")
        return
    security_hub.import_findings([finding])
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=1)
    logger.info("finding imported", extra={"finding_id": finding["Id"], "record_state": finding.get("RecordState")})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_batch(
        event, context, handle_body=import_body, processor=batch_processor(), logger=logger, metrics=metrics
    )
