"""A learned behavior's model: what the daily trainer writes and the evaluator judges ML behaviors with.

ML Detect facts this copies (AWS IoT Device Defender developer guide, "ML Detect":
https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-ml.html, "How ML Detect
works" and "Minimum requirements"):

- the initial model needs 14 days and at least 25,000 datapoints per metric over the trailing 14 days;
- the model is refreshed every day on the trailing 14 days;
- when the minimum is not met, the model is retried every day for 30 days, then given up;
- the confidence level is the sensitivity: HIGH is the least sensitive (fewest alarms), LOW the most
  (``MachineLearningDetectionConfig.confidenceLevel``:
  https://docs.aws.amazon.com/iot/latest/apireference/API_MachineLearningDetectionConfig.html).

Status values and the summary are those of ``GetBehaviorModelTrainingSummaries``
(https://docs.aws.amazon.com/iot/latest/apireference/API_GetBehaviorModelTrainingSummaries.html,
shape ``BehaviorModelTrainingSummary``): ``PENDING_BUILD``, ``ACTIVE``, ``EXPIRED``. A model that has
not been refreshed for 30 days is ``EXPIRED`` and its behavior stops alarming.

Plain data: no boto3, no clock. ``LearnedModel.to_item`` / ``from_item`` give the state table item;
``from_item`` raises ``CorruptModelError`` naming what is wrong, so one bad item fails its behavior alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PENDING_BUILD, ACTIVE, EXPIRED = "PENDING_BUILD", "ACTIVE", "EXPIRED"
MODEL_STATUSES = (PENDING_BUILD, ACTIVE, EXPIRED)
CONFIDENCES = ("HIGH", "MEDIUM", "LOW")  # bands in this order: HIGH is the widest (least sensitive)

DAY = 86_400.0
TRAINING_DAYS = 14
MIN_DATAPOINTS = 25_000
RETRY_DAYS = 30
EXPIRY_DAYS = 30
WINDOW_SECONDS = 300  # an ML behavior on a periodic metric is judged per 5-minute window
SLOTS = 48  # hour of day (UTC) x (weekday, weekend)

# Why a model is not active, for the status command and the log line.
REASON_COLLECTING = "collecting"
REASON_GAVE_UP = "gave-up"
REASON_STALE = "not-refreshed"
MODEL_PREFIX = "learned#"


class CorruptModelError(ValueError):
    """A stored model item cannot be read; the message says which field and why."""


def model_key(profile: str, behavior: str) -> str:
    return f"{MODEL_PREFIX}{profile}#{behavior}"


def slot_of(at: float) -> int:
    """The time slot of an epoch second: hour of day (UTC), plus 24 on Saturday and Sunday."""
    day, second = divmod(math.floor(at), int(DAY))
    weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday (Monday = 0)
    return second // 3600 + (24 if weekend else 0)


@dataclass(frozen=True)
class LearnedModel:
    """One profile's model of one behavior.

    ``bands``: per slot (``slot_of``), the upper bound of normal at HIGH, MEDIUM and LOW confidence
    (empty unless a model was ever built); ``collection_start``: when data collection began (the
    earliest window the trainer saw, or its first run); ``datapoints``: windows in the last training
    data; ``last_refresh``: when the bands were last built."""

    profile: str
    behavior: str
    metric: str
    status: str
    collection_start: float
    datapoints: int = 0
    last_refresh: float | None = None
    reason: str = REASON_COLLECTING
    bands: tuple[tuple[float, float, float], ...] = field(default_factory=tuple)

    def upper(self, confidence: str, at: float, now: float) -> float | None:
        """The upper bound of normal for a window starting at ``at``; None when the model cannot judge
        (not built, given up, or not refreshed for ``EXPIRY_DAYS`` by ``now``)."""
        if self.judging_status(now) != ACTIVE:
            return None
        return self.bands[slot_of(at)][CONFIDENCES.index(confidence)]

    def judging_status(self, now: float) -> str:
        """The status the evaluator acts on: an active model older than ``EXPIRY_DAYS`` is expired even
        when the trainer has not said so (it may have stopped running)."""
        if self.status == ACTIVE and self.last_refresh is not None and now - self.last_refresh > EXPIRY_DAYS * DAY:
            return EXPIRED
        return self.status

    def collection_percentage(self, now: float) -> float:
        """Progress towards the minimum: the lesser of days collected out of 14 and datapoints out of
        25,000, as a percentage rounded down (100 once a model was built)."""
        if self.last_refresh is not None:
            return 100.0
        days = max(0.0, now - self.collection_start) / (TRAINING_DAYS * DAY)
        return math.floor(10_000 * min(1.0, days, self.datapoints / MIN_DATAPOINTS)) / 100  # never 100 too early

    def summary(self, now: float) -> dict[str, Any]:
        """The ``BehaviorModelTrainingSummary`` of this model, with ``datetime`` timestamps as boto3 returns."""
        found: dict[str, Any] = {
            "securityProfileName": self.profile,
            "behaviorName": self.behavior,
            "trainingDataCollectionStartDate": datetime.fromtimestamp(self.collection_start, UTC),
            "modelStatus": self.judging_status(now),
            "datapointsCollectionPercentage": self.collection_percentage(now),
        }
        if self.last_refresh is not None:
            found["lastModelRefreshDate"] = datetime.fromtimestamp(self.last_refresh, UTC)
        return found

    def to_item(self) -> dict[str, Any]:
        """The state table item (numbers as text, so DynamoDB keeps them exactly)."""
        item: dict[str, Any] = {
            "id": model_key(self.profile, self.behavior),
            "metric": self.metric,
            "modelStatus": self.status,
            "reason": self.reason,
            "collectionStart": repr(self.collection_start),
            "datapoints": self.datapoints,
            "bands": ";".join(",".join(repr(v) for v in band) for band in self.bands),
        }
        if self.last_refresh is not None:
            item["lastRefresh"] = repr(self.last_refresh)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LearnedModel:
        try:
            _, profile, behavior = str(item["id"]).split("#", 2)
            model = cls(
                profile=profile,
                behavior=behavior,
                metric=str(item["metric"]),
                status=str(item["modelStatus"]),
                collection_start=_finite(item["collectionStart"], "collectionStart"),
                datapoints=int(item["datapoints"]),
                last_refresh=_finite(item["lastRefresh"], "lastRefresh") if "lastRefresh" in item else None,
                reason=str(item.get("reason", REASON_COLLECTING)),
                bands=_bands(str(item.get("bands", ""))),
            )
        except (KeyError, ValueError, TypeError, OverflowError) as error:  # OverflowError: int(inf)
            raise CorruptModelError(f"model item {item.get('id')!r}: {error}") from error
        _check(model)
        return model


def _finite(raw: Any, name: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"{name} {raw!r} is not a finite number")
    return value


def _bands(raw: str) -> tuple[tuple[float, float, float], ...]:
    if not raw:
        return ()
    bands = []
    for text in raw.split(";"):
        values = tuple(_finite(v, "bands") for v in text.split(","))
        if len(values) != len(CONFIDENCES):
            raise ValueError(f"a band has {len(CONFIDENCES)} bounds (HIGH, MEDIUM, LOW), got {len(values)}")
        bands.append((values[0], values[1], values[2]))
    return tuple(bands)


def _check(model: LearnedModel) -> None:
    where = f"model item {model_key(model.profile, model.behavior)!r}"
    if model.status not in MODEL_STATUSES:
        raise CorruptModelError(f"{where}: modelStatus {model.status!r} is not one of {', '.join(MODEL_STATUSES)}")
    if model.bands and len(model.bands) != SLOTS:
        raise CorruptModelError(f"{where}: {len(model.bands)} bands, expected {SLOTS} (one per slot)")
    if model.status == ACTIVE and (not model.bands or model.last_refresh is None):
        raise CorruptModelError(f"{where}: an ACTIVE model needs its bands and lastRefresh")
    if any(not high >= medium >= low for high, medium, low in model.bands):
        raise CorruptModelError(f"{where}: a band's bounds must not grow from HIGH to MEDIUM to LOW")
    if model.datapoints < 0:
        raise CorruptModelError(f"{where}: datapoints {model.datapoints} is negative")
