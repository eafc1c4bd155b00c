"""The learned model's state table item and its GetBehaviorModelTrainingSummaries summary: a round trip,
the botocore shape, and corrupt items refused with a reason (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_defender_runtime.model.learned_model import (
    ACTIVE,
    DAY,
    PENDING_BUILD,
    SLOTS,
    CorruptModelError,
    LearnedModel,
)
from tests.lambdas.api_shapes import api_shape, problems

NOW = 1_790_000_000.0
ACTIVE_MODEL = LearnedModel(
    "fleet",
    "storm",
    "aws:num-messages-sent",
    ACTIVE,
    NOW - 20 * DAY,
    40_000,
    NOW - DAY,
    "",
    tuple((30.5 + s, 20.25 + s, 10.0 + s) for s in range(SLOTS)),
)


def test_item_round_trip_is_exact() -> None:
    assert LearnedModel.from_item(ACTIVE_MODEL.to_item()) == ACTIVE_MODEL
    pending = LearnedModel("fleet", "auth", "aws:num-authorization-failures", PENDING_BUILD, NOW, 12)
    assert LearnedModel.from_item(pending.to_item()) == pending


@pytest.mark.parametrize("model", [ACTIVE_MODEL, LearnedModel("p", "b", "aws:num-disconnects", PENDING_BUILD, NOW)])
def test_summary_is_a_botocore_behavior_model_training_summary(model: LearnedModel) -> None:
    summary = model.summary(NOW)
    assert problems(summary, api_shape("BehaviorModelTrainingSummary")) == []


def test_pending_summary_reports_collection_progress_and_no_refresh_date() -> None:
    summary = LearnedModel("p", "b", "aws:num-disconnects", PENDING_BUILD, NOW - 7 * DAY, 20_000).summary(NOW)
    assert summary["modelStatus"] == "PENDING_BUILD" and summary["datapointsCollectionPercentage"] == 50.0
    assert "lastModelRefreshDate" not in summary


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"modelStatus": "TRAINING"}, "modelStatus 'TRAINING' is not one of PENDING_BUILD, ACTIVE, EXPIRED"),
        ({"bands": "1,2,3"}, "1 bands, expected 48"),
        ({"bands": ";".join(["1,2"] * SLOTS)}, "a band has 3 bounds"),
        ({"bands": ";".join(["1,2,3"] * SLOTS)}, "must not grow from HIGH to MEDIUM to LOW"),
        ({"bands": ";".join(["nan,2,1"] * SLOTS)}, "is not a finite number"),
        ({"collectionStart": "yesterday"}, "could not convert string to float"),
        ({"datapoints": -1}, "datapoints -1 is negative"),
        ({"bands": ""}, "an ACTIVE model needs its bands and lastRefresh"),
    ],
)
def test_fails_when_the_item_is_corrupt(change: dict[str, object], reason: str) -> None:
    with pytest.raises(CorruptModelError, match="learned#fleet#storm") as error:
        LearnedModel.from_item({**ACTIVE_MODEL.to_item(), **change})
    assert reason in str(error.value)


def test_fails_when_a_field_is_missing() -> None:
    item = ACTIVE_MODEL.to_item()
    del item["metric"]
    with pytest.raises(CorruptModelError, match="'metric'"):
        LearnedModel.from_item(item)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["metric", "modelStatus", "collectionStart", "datapoints", "bands", "lastRefresh", "reason"]),
        st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats(), st.lists(st.integers(), max_size=3)),
    )
)
def test_any_broken_item_is_refused_with_corrupt_model_only(change: dict[str, object]) -> None:
    item = {**ACTIVE_MODEL.to_item(), **change}
    try:
        model = LearnedModel.from_item(item)
    except CorruptModelError as error:
        assert "learned#fleet#storm" in str(error)
    else:
        assert model.status in ("PENDING_BUILD", "ACTIVE", "EXPIRED")


def test_fails_when_datapoints_is_not_a_whole_number():
    with pytest.raises(CorruptModelError, match="cannot convert float infinity to integer"):
        LearnedModel.from_item({**ACTIVE_MODEL.to_item(), "datapoints": float("inf")})
