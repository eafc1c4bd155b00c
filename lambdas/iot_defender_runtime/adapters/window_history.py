"""The window history's writer: the windows an invocation closed, as rows of the history schema
(``model/window_history.py``), sent to the history's Firehose stream, which converts them to Parquet
in S3 (``constructs_lib/detect/window_history.py``).

Packing. Rows are newline-delimited JSON, many to a Firehose record: Firehose bills ingestion and
format conversion per record rounded up to 5 KB (https://aws.amazon.com/firehose/pricing/), so one
row (about 200 bytes) per record would be billed some 25 times its size, and format conversion reads
several JSON documents from one record ("When combining multiple JSON documents into the same
record ..." https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html). A record
holds at most 1,000 KiB and a ``PutRecordBatch`` call at most 500 records and 4 MiB
(https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html).

Failures. ``PutRecordBatch`` can accept a call and still reject some records (``FailedPutCount``, an
``ErrorCode`` per record): those are sent again, a bounded number of times, then dropped. A call
that fails as a whole (after the client's own retries) drops its rows at once. Dropped rows are
reported (``on_dropped``: the evaluator logs them and counts ``HistoryRowsDropped``) and never fail
the batch: the alarms come first, and a batch retried for its history would publish, write state and
count again; the history is for analysis, where a lost row is a gap that the metric shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.evaluation.engine import ClosedWindow
from iot_defender_runtime.model.detect_profiles import ProfileBehavior
from iot_defender_runtime.model.window_history import history_row, verdict_of

RECORD_BYTES = 1_024_000  # a record's data, before base64 encoding (the firehose model's Data max)
CALL_BYTES = 4_000_000  # the whole call: "4 MB", read as the smaller of 4 MB and 4 MiB
CALL_RECORDS = 500
ATTEMPTS = 3  # sends of a rejected record, the first included
BACKOFF_SECONDS = 0.2  # before the second send; doubled before each next one

DroppedRows = Callable[[int, str], None]  # (rows, why) -> None


@dataclass(frozen=True)
class _Record:
    """One Firehose record: newline-terminated rows, and how many."""

    data: bytes
    rows: int


class FirehoseWindowSink:
    """``WindowSink`` (``detect_evaluator/ports.py``) to the history's Firehose stream: ``record`` keeps
    the rows of one invocation, ``flush`` sends them."""

    def __init__(
        self,
        stream_name: str,
        *,
        firehose: Any | None = None,
        on_dropped: DroppedRows | None = None,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._stream_name = stream_name
        self._firehose = firehose or client("firehose")
        self._on_dropped = on_dropped or (lambda rows, why: None)
        self._attempts = attempts
        self._sleep = sleep
        self._lines: list[bytes] = []

    def record(self, behavior: ProfileBehavior, thing: str, windows: tuple[ClosedWindow, ...]) -> None:
        definition = behavior.definition
        for window in windows:
            row = history_row(
                profile=behavior.profile,
                behavior=definition.name,
                metric=definition.metric,
                thing_name=thing,
                start=window.start,
                end=window.end,
                value=window.value,
                verdict=verdict_of(window.violating),
            )
            self._lines.append(json.dumps(row, separators=(",", ":")).encode() + b"\n")

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        for call in _calls(_records(lines)):
            dropped, why = self._send(call)
            if dropped:
                self._on_dropped(dropped, why)

    def _send(self, records: Sequence[_Record]) -> tuple[int, str]:
        """Sends ``records``, again those rejected; returns the rows dropped and why."""
        pending, why = list(records), ""
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                response = self._firehose.put_record_batch(
                    DeliveryStreamName=self._stream_name, Records=[{"Data": record.data} for record in pending]
                )
            except (BotoCoreError, ClientError) as error:
                return sum(record.rows for record in pending), f"PutRecordBatch failed: {error}"
            if not response.get("FailedPutCount"):
                return 0, ""
            answers = response["RequestResponses"]  # one per record, in order; the rejected ones have ErrorCode
            rejected = [
                (record, answer) for record, answer in zip(pending, answers, strict=True) if "ErrorCode" in answer
            ]
            if not rejected:
                return 0, ""
            pending = [record for record, _ in rejected]
            first = rejected[0][1]
            why = f"{first['ErrorCode']}: {first.get('ErrorMessage', '')} (after {attempt + 1} sends)"
        return sum(record.rows for record in pending), why


def _records(lines: Sequence[bytes]) -> Iterator[_Record]:
    """Rows packed into records of at most ``RECORD_BYTES`` (a row is never split)."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) > RECORD_BYTES:
            yield _Record(b"".join(chunk), len(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line)
    if chunk:
        yield _Record(b"".join(chunk), len(chunk))


def _calls(records: Iterator[_Record]) -> Iterator[list[_Record]]:
    """Records grouped into calls of at most ``CALL_RECORDS`` records and ``CALL_BYTES`` bytes."""
    call: list[_Record] = []
    size = 0
    for record in records:
        if call and (len(call) == CALL_RECORDS or size + len(record.data) > CALL_BYTES):
            yield call
            call, size = [], 0
        call.append(record)
        size += len(record.data)
    if call:
        yield call
