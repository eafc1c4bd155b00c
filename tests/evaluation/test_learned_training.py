"""Training a learned behavior's model (fixed seeds): slots, robust statistics, trimming of attacks in
the training data, confidence levels, and the status rules of the guide (14 days, 25,000 datapoints,
30 days of retries, expiry after 30 days without a refresh)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_defender_runtime.evaluation.learned import (
    ALL,
    COUNT_SPREAD,
    HOUR,
    MIN_SLOT_WINDOWS,
    SLOT,
    STATE_SPREAD,
    SlotStats,
    aggregate,
    bands_from,
    min_spread_of,
    nearest_rank,
    slot_stats,
    train,
    why_not_judging,
)
from iot_defender_runtime.model.learned_model import (
    ACTIVE,
    DAY,
    EXPIRED,
    PENDING_BUILD,
    REASON_GAVE_UP,
    SLOTS,
    LearnedModel,
    slot_of,
)
from iot_defender_runtime.model.metric_catalog import METRICS

MONDAY = datetime(2026, 11, 2, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
NOW = MONDAY + 14 * DAY


def fleet_windows(seed: int, things: int = 40, days: int = 14) -> list[tuple[str, float, float]]:
    """Hourly windows of a fleet sending ~100 messages on weekday daytime, ~20 at night and weekends."""
    rng = random.Random(seed)
    rows = []
    for day in range(days):
        weekend = (day % 7) >= 5
        for hour in range(24):
            start = MONDAY + day * DAY + hour * 3600
            mean = 20 if weekend or not 8 <= hour < 18 else 100
            rows += [(f"t{n}", start, float(max(0, round(rng.gauss(mean, mean**0.5))))) for n in range(things)]
    return rows


def stats_for(rows: list[tuple[str, float, float]]) -> tuple[dict, int]:
    return aggregate(rows)


def test_slot_is_hour_of_day_and_weekend() -> None:
    assert slot_of(MONDAY) == 0
    assert slot_of(MONDAY + 13 * 3600 + 59) == 13
    assert slot_of(MONDAY + 5 * DAY + 3600) == 25  # Saturday 01:00
    assert slot_of(MONDAY + 6 * DAY + 23 * 3600) == 47  # Sunday 23:00


def test_nearest_rank_is_the_value_at_rank_ceil_p_n() -> None:
    ordered = [float(v) for v in range(1, 11)]
    assert nearest_rank(ordered, 0.5) == 5
    assert nearest_rank(ordered, 0.91) == 10
    assert nearest_rank(ordered, 0.0) == 1


def test_bands_follow_the_daily_and_weekly_cycle() -> None:
    stats, count = stats_for(fleet_windows(seed=7, things=60))  # 240 windows per weekend slot: not pooled
    bands = bands_from(stats)
    assert count == 60 * 14 * 24 and len(bands) == SLOTS
    weekday_noon, weekday_night, weekend_noon = bands[12], bands[3], bands[24 + 12]
    assert weekday_noon[0] > 100 > weekday_night[0] > 20
    assert weekend_noon[0] < 100


def test_higher_confidence_is_a_wider_band() -> None:
    stats, _ = stats_for(fleet_windows(seed=8))
    for high, medium, low in bands_from(stats):
        assert high > medium > low


def test_attacks_in_the_training_data_do_not_drag_the_band_up() -> None:
    clean = fleet_windows(seed=9)
    storm_start = MONDAY + 2 * DAY + 12 * 3600
    attacked = clean + [(f"x{n}", storm_start, 5000.0) for n in range(30)]  # 30 storming things at one noon
    clean_band = bands_from(stats_for(clean)[0])[12]
    attacked_band = bands_from(stats_for(attacked)[0])[12]
    assert attacked_band[0] < 200 and attacked_band[0] == pytest.approx(clean_band[0], abs=10)


def test_a_window_delivered_twice_counts_once() -> None:
    rows = fleet_windows(seed=10, things=3, days=1)
    stats, count = aggregate(rows + rows[:5])
    assert count == len(rows) and stats[(ALL, 0)].windows == len(rows)


def test_a_sparse_slot_borrows_its_hour_then_all_windows() -> None:
    dense = SlotStats(MIN_SLOT_WINDOWS, 10.0, 1.0, (20.0, 15.0, 12.0))
    hour = SlotStats(MIN_SLOT_WINDOWS, 50.0, 2.0, (70.0, 60.0, 55.0))
    sparse = SlotStats(MIN_SLOT_WINDOWS - 1, 999.0, 1.0, (999.0, 999.0, 999.0))
    stats = {(ALL, 0): dense, (SLOT, 5): sparse, (HOUR, 5): hour, (SLOT, 6): sparse}
    bands = bands_from(stats)
    assert bands[5] == hour.band()
    assert bands[6] == dense.band()  # neither slot 6 nor hour 6 has enough windows


def test_a_count_of_events_varies_by_at_least_one_a_reported_state_by_a_fifth() -> None:
    assert slot_stats([0.0] * 500).band() == (4.0, 2.0, 1.0)  # cloud-side counts: COUNT_SPREAD
    assert min_spread_of(METRICS["aws:num-messages-sent"]) == COUNT_SPREAD
    assert min_spread_of(METRICS["aws:num-listening-tcp-ports"]) == STATE_SPREAD


def test_a_reported_state_all_equal_has_a_band_less_than_one_unit_wide_so_one_more_is_out() -> None:
    assert slot_stats([0.0] * 500, STATE_SPREAD).band() == (0.8, 0.4, 0.2)
    high, medium, low = slot_stats([3.0] * 500, STATE_SPREAD).band()
    assert 3.0 < low < medium < high < 4.0  # a fourth listening port alarms at every confidence level


def model_after(previous: LearnedModel | None, *, windows: int, earliest: float, now: float) -> LearnedModel:
    stats = {(ALL, 0): SlotStats(windows, 10.0, 1.0, (20.0, 15.0, 12.0))} if windows else {}
    return train(
        previous,
        profile="p",
        behavior="b",
        metric="aws:num-messages-sent",
        stats=stats,
        datapoints=windows,
        earliest=earliest,
        now=now,
    )


def test_fails_when_history_is_too_short_pending_build_never_a_model_from_a_handful() -> None:
    young = model_after(None, windows=100_000, earliest=NOW - 13 * DAY, now=NOW)
    few = model_after(None, windows=24_999, earliest=NOW - 14 * DAY, now=NOW)
    for model in (young, few):
        assert model.status == PENDING_BUILD and not model.bands and model.upper("HIGH", NOW, NOW) is None
    assert few.collection_percentage(NOW) == pytest.approx(99.99, abs=0.01)
    assert "PENDING_BUILD" in (why_not_judging(few, NOW) or "")


def test_the_minimum_met_builds_an_active_model() -> None:
    model = model_after(None, windows=25_000, earliest=NOW - 14 * DAY, now=NOW)
    assert model.status == ACTIVE and model.last_refresh == NOW and len(model.bands) == SLOTS
    assert model.upper("LOW", NOW, NOW) == 12.0 + 1.4826 and model.collection_percentage(NOW) == 100.0


def test_a_model_given_up_after_30_days_of_retries_expires_and_stays_so() -> None:
    pending = model_after(None, windows=10, earliest=NOW - 44 * DAY, now=NOW)
    assert pending.status == PENDING_BUILD
    gave_up = model_after(pending, windows=10, earliest=NOW - 44 * DAY, now=NOW + DAY)
    assert gave_up.status == EXPIRED and gave_up.reason == REASON_GAVE_UP
    assert model_after(gave_up, windows=30_000, earliest=NOW, now=NOW + 2 * DAY) == gave_up
    assert "within 30 days of daily retries" in (why_not_judging(gave_up, NOW + DAY) or "")


def test_a_model_not_refreshed_for_30_days_expires_and_stops_judging() -> None:
    built = model_after(None, windows=25_000, earliest=NOW - 14 * DAY, now=NOW)
    kept = model_after(built, windows=0, earliest=NOW, now=NOW + 29 * DAY)
    assert kept.status == ACTIVE and kept.bands == built.bands and kept.upper("HIGH", NOW, NOW + 29 * DAY)
    stale = model_after(kept, windows=0, earliest=NOW, now=NOW + 31 * DAY)
    assert stale.status == EXPIRED and stale.upper("HIGH", NOW, NOW + 31 * DAY) is None
    # The evaluator stops judging an unrefreshed model even if the trainer never wrote EXPIRED.
    assert built.upper("HIGH", NOW, NOW + 31 * DAY) is None
    assert "not refreshed for 31.0 days" in (why_not_judging(built, NOW + 31 * DAY) or "")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=300))
def test_any_values_give_ordered_finite_bands(values: list[float]) -> None:
    high, medium, low = slot_stats(values).band()
    assert high >= medium >= low >= min(values)


def test_a_cloud_side_counts_empty_windows_count_towards_the_minimum_a_device_sides_do_not() -> None:
    from iot_defender_runtime.evaluation.learned import TrainingData, datapoints_of
    from iot_defender_runtime.model.metric_catalog import METRICS

    data = TrainingData({}, windows=300, earliest=NOW, things=7)
    assert datapoints_of(data, METRICS["aws:num-authorization-failures"], 14 * DAY) == 7 * 4032
    assert datapoints_of(data, METRICS["aws:all-bytes-out"], 14 * DAY) == 300
