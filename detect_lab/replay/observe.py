"""The values of set metrics that things report, for the tuner's set proposals: closed windows carry
numbers only, so the values of listening ports and destination addresses are read from the records
themselves, with the evaluator's own parser (``detect_evaluator.records.parse_record``).

Sampled: for each thing, the first record of each hour (by its partition key, the thing name, as the
topic rules key them) that carries a set metric outside the thing's attacks. Parsing every agent
report a second time cost a quarter of a replay; listening ports and connections change far less
often than hourly, and a value a thing showed for minutes only is one the tuner had better not
take for normal."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from detect_lab.replay.result import SetObservations
from iot_defender_runtime.detect_evaluator.records import parse_record
from iot_defender_runtime.evaluation.criteria import address_text
from iot_defender_runtime.evaluation.values import datapoint_value
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.metric_catalog import ValueKind

SET_KINDS = frozenset({ValueKind.PORTS, ValueKind.CIDRS, ValueKind.NUMBERS, ValueKind.STRINGS})


class SetObserver:
    """Counts, per thing (of ``things``) and set metric of ``profiles``, each value sampled outside the
    attacks of ``labels`` (an ``AttackLabel``'s thing, start and end)."""

    def __init__(self, profiles: DetectProfiles, labels: Sequence[Any] = (), things: Iterable[str] = ()) -> None:
        self._kinds = {
            b.definition.metric: b.spec.value_kind for b in profiles.behaviors if b.spec.value_kind in SET_KINDS
        }
        self._attacks: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for label in labels:
            self._attacks[label.thing].append((label.start, label.end))
        self._things = frozenset(things)
        self._sampled: dict[str, int] = {}  # thing -> hour last sampled
        self._values: dict[tuple[str, str], Counter[Any]] = defaultdict(Counter)

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        if not self._kinds:
            return
        for record in records:
            kinesis = record.get("kinesis", {})
            key, hour = kinesis.get("partitionKey"), int(kinesis.get("approximateArrivalTimestamp", 0) // 3600)
            if key not in self._things or self._sampled.get(key) == hour:
                continue
            try:
                parsed = parse_record(record)
            except ValueError:
                continue  # the evaluator refuses it too
            if self._take(parsed):
                self._sampled[key] = hour

    def _take(self, parsed: list[Any]) -> bool:
        """Count the set values of a record's datapoints; whether it had any outside an attack."""
        taken = False
        for point in parsed:
            kind = self._kinds.get(point.metric)
            if kind is None or self._attacked(point.thing, point.datapoint.timestamp):
                continue
            counter = self._values[(point.thing, point.metric)]
            for value in datapoint_value(kind, point.datapoint.value):
                counter[address_text(value) if kind is ValueKind.CIDRS else value] += 1
            taken = True
        return taken

    def _attacked(self, thing: str, at: float) -> bool:
        return any(start <= at < end for start, end in self._attacks.get(thing, ()))

    def observations(self) -> SetObservations:
        return SetObservations({key: Counter(counter) for key, counter in self._values.items()})
