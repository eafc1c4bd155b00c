"""How both remediation functions take records: SQS batches with partial failures, or direct SNS
events; each body checked for encoding and size before it is parsed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# A violation or audit notification is a few KB; anything this large is not one (SQS allows 256 KiB).
MAX_BODY_BYTES = 64 * 1024


class UnreadableRecordError(ValueError):
    """The record body is not what the function takes; the message says why."""


def check_body(body: str, what: str) -> None:
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise UnreadableRecordError(f"record body is not valid UTF-8 (at character {error.start})") from error
    if size > MAX_BODY_BYTES:
        raise UnreadableRecordError(f"record body is {size} bytes; {what} is at most {MAX_BODY_BYTES}")


def new_processor() -> BatchProcessor:
    # Report every failed record individually, even when the whole batch fails.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def run_batch(
    event: dict[str, Any],
    context: LambdaContext,
    *,
    handle_body: Callable[[str], None],
    processor: BatchProcessor,
    logger: Logger,
    metrics: Metrics,
) -> dict[str, Any]:
    """SQS: each record alone, failures in ``batchItemFailures``. Direct SNS: no partial batches;
    raising makes Lambda retry the asynchronous invocation, then use the function's DLQ."""
    records = event.get("Records") or []
    if records and all(record.get("EventSource") == "aws:sns" for record in records):
        for record in records:
            handle_body(record["Sns"]["Message"])
        return {"batchItemFailures": []}

    def handle_record(record: SQSRecord) -> None:
        try:
            handle_body(record.body)
        except UnreadableRecordError as error:
            logger.warning("rejected record", extra={"message_id": record.message_id, "reason": str(error)})
            metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
            raise

    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
