"""The per-record path of a Kinesis batch: each record read and checked whole (``records``: every
value by its metric's kind, the thing name, the time, the topic), each datapoint checked again
against the value kind of every profile behavior on its metric (a custom metric a device reports as
a ``number_list`` while the behavior expects a ``number`` cannot be judged), and grouped by
(profile, thing). A record that fails here fails alone (``batchItemFailures``), logged with its
``reason`` and counted in ``RejectedRecords``; whatever it raises, nothing escapes the record, and
nothing else in the batch depends on it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from iot_defender_runtime.detect_evaluator.observability import logger, metrics
from iot_defender_runtime.detect_evaluator.records import ParsedRecord, parse_record
from iot_defender_runtime.evaluation.values import datapoint_value
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.lifecycle import LifecycleEvent
from iot_defender_runtime.model.metric_catalog import ValueKind


class Intake:
    """The record handler of the batch processor: a record's datapoints, each value checked against
    its metric's value kind in every profile with a behavior on that metric, grouped by (profile,
    thing). A record that is not a datapoint (or whose value its metric cannot take) raises, and
    fails alone."""

    def __init__(self, profiles: DetectProfiles) -> None:
        self.profiles = profiles
        self.grouped: dict[tuple[str, str], list[ParsedRecord]] = defaultdict(list)  # (profile, thing) -> records
        self._kinds: dict[tuple[str, str], ValueKind] = {}

    def __call__(self, record: KinesisStreamRecord) -> None:
        try:
            accepted = [
                (profile, checked) for parsed in parse_record(record) for profile, checked in self._per_profile(parsed)
            ]
        except Exception as error:  # a hostile record fails alone, whatever it makes the parser raise
            reason = str(error) if isinstance(error, ValueError) else f"unexpected {type(error).__name__}: {error}"
            reason = reason if len(reason) <= 500 else reason[:500] + "..."
            sequence = record.kinesis.get("sequenceNumber") if isinstance(record, KinesisStreamRecord) else None
            logger.warning("rejected record", extra={"reason": reason, "sequence_number": sequence})
            metrics.add_metric(name="RejectedRecords", unit=MetricUnit.Count, value=1)
            raise ValueError(reason) from error
        for profile, parsed in accepted:
            self.grouped[(profile, parsed.thing)].append(parsed)

    def _per_profile(self, parsed: ParsedRecord) -> list[tuple[str, ParsedRecord]]:
        """The datapoint checked for each profile with a behavior on its metric: once per value kind."""
        by_kind: dict[ValueKind, ParsedRecord] = {}
        found = []
        for profile in self.profiles.profiles_by_metric.get(parsed.metric, ()):
            kind = self._kind(profile, parsed.metric)
            if kind not in by_kind:
                by_kind[kind] = self._checked(kind, parsed)
            found.append((profile, by_kind[kind]))
        return found

    def _checked(self, kind: ValueKind, parsed: ParsedRecord) -> ParsedRecord:
        original = parsed.datapoint.value
        if isinstance(original, LifecycleEvent):
            return parsed  # checked when it was read; it becomes disconnect-duration datapoints later
        try:
            value = datapoint_value(kind, original)
        except ValueError as error:
            raise ValueError(f"record {parsed.sequence} has no valid {parsed.metric} value: {error}") from error
        if value is original or (type(value) is type(original) and value == original):
            return parsed
        return replace(parsed, datapoint=replace(parsed.datapoint, value=value))

    def _kind(self, profile: str, metric: str) -> ValueKind:
        key = (profile, metric)
        if key not in self._kinds:
            behaviors = self.profiles.by_profile[profile]
            self._kinds[key] = next(b.spec.value_kind for b in behaviors if b.definition.metric == metric)
        return self._kinds[key]
