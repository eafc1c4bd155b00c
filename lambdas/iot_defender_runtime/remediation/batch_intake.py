"""How both remediation functions take records: SQS batches with partial failures, or direct SNS
events; each body checked for encoding and size before it is parsed, then read as a JSON object that
is either the payload itself (raw delivery on) or an SNS notification wrapping it (raw delivery off).

Powertools pieces used and not used (README, "Architecture"):

- ``BatchProcessor(EventType.SQS)`` reports each failed record in ``batchItemFailures``.
- ``SnsNotificationModel`` reads an SNS-wrapped body (``Type`` must be ``Notification``; the SQS
  spellings ``UnsubscribeURL``/``SigningCertURL`` are understood), with the fields SNS always sends
  but a bare ``{"Type": "Notification", "Message": ...}`` wrapper lacks made optional: such
  wrappers are accepted today (tested) and the violation, not the envelope, is what is acted on.
- The ``SnsSqsEnvelope``/``SqsEnvelope``/``SnsEnvelope`` envelopes are not used: they parse a whole
  event at once, so one bad record would fail the batch instead of itself, a raw-delivery body (no
  SNS wrapper) would be rejected, and the size and UTF-8 checks with their reasons would be lost.
  ``SnsModel`` is not used for direct SNS events either: it requires ``EventVersion``,
  ``EventSubscriptionArn`` and every notification field, and such events are handled today.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel
from pydantic import HttpUrl, ValidationError

if TYPE_CHECKING:  # Powertools' batch utility is imported with the first batch, not with the handler (cold start)
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.typing import LambdaContext

from iot_defender_runtime.remediation.actions import QuarantineHeldError

# A violation or audit notification is a few KB; anything this large is not one (SQS allows 256 KiB).
MAX_BODY_BYTES = 64 * 1024
# A violation is 5 levels deep, an audit notification 3; deeper JSON is not one, and would only
# strain the encoders that later write it to the idempotency record and the notification.
MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnreadableRecordError(ValueError):
    """The record body is not what the function takes; the message says why."""


def read_body(body: Any, what: str, parse: Callable[[str], Any]) -> Any:
    """``parse(body)`` after the size and encoding checks; any reason it is not ``what`` (e.g. "a violation
    event") becomes an ``UnreadableRecordError`` that says so: "not <what>: <reason>". Whatever the
    parser raises on a hostile body (``RecursionError``, ``OverflowError``, ``TypeError``, ...) is such
    a reason, so every unreadable record is rejected with a logged reason and counted alike."""
    check_body(body, what)
    try:
        return parse(body)
    except UnreadableRecordError:
        raise
    except json.JSONDecodeError as error:
        raise UnreadableRecordError(f"not {what}: not valid JSON ({error})") from error
    except ValidationError as error:
        raise UnreadableRecordError(f"not {what}: {_validation_reason(error)}") from error
    except ValueError as error:
        raise UnreadableRecordError(f"not {what}: {_excerpt(str(error))}") from error
    except Exception as error:  # a hostile body is unreadable, whatever it makes the parser raise
        raise UnreadableRecordError(f"not {what}: {type(error).__name__}: {_excerpt(str(error))}") from error


def _validation_reason(error: ValidationError) -> str:
    return _excerpt(
        "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()),
        1000,
    )


def _excerpt(text: str, limit: int = 500) -> str:
    """``text`` cut to ``limit`` characters, with any character UTF-8 cannot hold (a lone surrogate from
    a ``\\ud800`` escape) written as its escape: a reason must always reach the log."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_body(body: Any, what: str) -> None:
    """The body is text, valid UTF-8 and at most ``MAX_BODY_BYTES``, or ``UnreadableRecordError`` says which not."""
    if not isinstance(body, str):
        raise UnreadableRecordError(f"record body is not text (got {type(body).__name__}); {what} is JSON text")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise UnreadableRecordError(f"record body is not valid UTF-8 (at character {error.start})") from error
    if size > MAX_BODY_BYTES:
        raise UnreadableRecordError(f"record body is {size} bytes; {what} is at most {MAX_BODY_BYTES}")


class SnsNotification(SnsNotificationModel):
    """Powertools' SNS notification, with the fields a bare wrapper lacks made optional (see above)."""

    TopicArn: str | None = None
    MessageId: str | None = None
    Timestamp: datetime | None = None
    UnsubscribeUrl: HttpUrl | None = None
    Message: str


def json_object(text: str, *, where: str = "", error: type[ValueError] = ValueError) -> dict[str, Any]:
    """Parse ``text`` as a strict JSON object at most ``MAX_JSON_DEPTH`` deep, or raise ``error`` saying
    why: nested too deep (``RecursionError`` in the parser), ``NaN``/``Infinity`` (not JSON) or a number
    no double holds (``1e400``), a string with a lone surrogate (``"\\ud800"``: valid JSON text, but no
    UTF-8 can carry it to the registry, the log or a notification). Invalid JSON raises
    ``json.JSONDecodeError`` (a ``ValueError``)."""
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError as too_deep:
        raise error(f"the JSON{where} is nested more than {MAX_JSON_DEPTH} levels deep") from too_deep
    except _NotStrictJsonError as strict:
        raise error(f"the JSON{where} {strict}") from strict
    if not isinstance(value, dict):
        raise error(f"expected a JSON object{where}, got {type(value).__name__}")
    _check_tree(value, where, error)
    return value


class _NotStrictJsonError(ValueError):
    pass


def _not_json(constant: str) -> Any:
    raise _NotStrictJsonError(f"holds {constant}, which is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotStrictJsonError(f"holds the number {text[:40]}, beyond the range of a double")
    return number


def _check_tree(value: Any, where: str, error: type[ValueError]) -> None:
    """Every object and array within ``MAX_JSON_DEPTH`` levels, every string and key valid Unicode."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise error(f"the JSON{where} is nested more than {MAX_JSON_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and _SURROGATE.search(item):
            shown = _excerpt(item, 40)
            raise error(f"the JSON{where} holds a string with a lone surrogate, not Unicode: '{shown}'")


def unwrapped(body: str, *, error: type[ValueError] = ValueError) -> dict[str, Any]:
    """The JSON object a body carries: the body itself (raw delivery on), or the ``Message`` of the SNS
    notification it is (raw delivery off; any ``Type`` but ``Notification`` is refused)."""
    payload = json_object(body, error=error)
    if "Type" in payload and "Message" in payload:
        if payload["Type"] != "Notification":
            kind = payload["Type"]
            shown = _excerpt(kind if isinstance(kind, str) else json.dumps(kind), 64)
            raise error(f"SNS message of Type '{shown}' is not a Notification")
        notification = SnsNotification.model_validate(payload)
        payload = json_object(notification.Message, where=" in the SNS Message", error=error)
    return payload


def new_processor() -> BatchProcessor:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

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
    raising makes Lambda retry the asynchronous invocation, then use the function's DLQ. Either way
    a failed record is logged with its message id and the reason: an unreadable one as "rejected
    record" and counted in ``RejectedRecords``, any other failure as "record failed". The reason is
    always one the log can write (``_excerpt``: no lone surrogate makes the log line vanish)."""

    def handle_logged(body: Any, message_id: Any) -> None:
        shown_id = None if message_id is None else _excerpt(str(message_id), 128)
        try:
            handle_body(body)
        except UnreadableRecordError as error:
            logger.warning("rejected record", extra={"message_id": shown_id, "reason": _excerpt(str(error), 1200)})
            metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
            raise
        except QuarantineHeldError:
            raise  # the handler reports it, with what was held
        except Exception as error:
            reason = f"{type(error).__name__}: {_excerpt(str(error))}"
            logger.warning("record failed", extra={"message_id": shown_id, "reason": reason})
            raise

    records = event.get("Records") or []
    if records and all(record.get("EventSource") == "aws:sns" for record in records):
        for record in records:
            sns = record.get("Sns") if isinstance(record.get("Sns"), dict) else {}
            handle_logged(sns.get("Message"), sns.get("MessageId"))  # no Message: rejected, not a KeyError
        return {"batchItemFailures": []}
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(
        event=event,
        record_handler=lambda record: handle_logged(record.raw_event.get("body"), record.message_id),
        processor=processor,
        context=context,
    )
