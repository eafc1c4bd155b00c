"""Fleet percentiles merged from per-segment sketches: exactly the percentile of every value while the
sketches stay exact, within 1 % of it once they turn to log buckets; whatever the split into segments."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_defender_runtime.evaluation.criteria import percentile
from iot_defender_runtime.evaluation.fleet import (
    MAX_EXACT_VALUES,
    RELATIVE_ACCURACY,
    WindowSketch,
    fleet_thresholds,
    latest,
    merge_parts,
    part_from_document,
    part_to_document,
    rank_index,
    sketch_windows,
    thresholds_of,
)

STATISTICS = st.sampled_from(["p10", "p50", "p90", "p99", "p99.9", "p100", "p0"])
COUNTS = st.integers(min_value=0, max_value=500).map(float)  # messages per window: few distinct values


def _split(values: list[float], cuts: list[int]) -> list[list[float]]:
    """``values`` cut into consecutive segments at the given positions."""
    bounds = sorted({min(c, len(values)) for c in cuts})
    return [values[a:b] for a, b in zip([0, *bounds], [*bounds, len(values)], strict=True)]


def _merged(parts: list[list[float]], through_json: bool) -> WindowSketch:
    sketched = [sketch_windows((0.0, value) for value in part) for part in parts]
    if through_json:  # as the segments keep them in the table
        sketched = [part_from_document(json.loads(json.dumps(part_to_document(p)))) for p in sketched]
    return merge_parts(sketched)[0.0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(COUNTS, min_size=1, max_size=400),
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    STATISTICS,
    st.booleans(),
)
def test_merged_exact_sketches_give_exactly_the_fleet_percentile(values, cuts, statistic, through_json):
    # Given a window's totals spread over segments; When each segment sketches its part and they are merged
    merged = _merged(_split(values, cuts), through_json)
    # Then the percentile and the count are the ones of every value together
    assert merged.exact is not None
    assert merged.percentile(statistic) == percentile(values, statistic)
    assert merged.count == len(values)


def _spread(seed: int, count: int, scale: float, negatives: bool) -> list[float]:
    """``count`` distinct values spread over many orders of magnitude (a zero, and negatives too)."""
    chosen = random.Random(seed)
    values = {0.0}
    while len(values) < count:
        values.add(round(chosen.lognormvariate(0, scale), 9) * (chosen.choice((-1, 1)) if negatives else 1))
    return list(values)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=MAX_EXACT_VALUES + 1, max_value=MAX_EXACT_VALUES + 600),
    st.floats(min_value=0.5, max_value=8),
    st.booleans(),
    st.lists(st.integers(min_value=0, max_value=1600), max_size=6),
    STATISTICS,
    st.booleans(),
)
def test_merged_bucketed_sketches_are_within_one_percent_of_the_fleet_percentile(
    seed, count, scale, negatives, cuts, statistic, through_json
):
    # Given more distinct values than a sketch keeps exactly (bytes, floats), spread over segments
    values = _spread(seed, count, scale, negatives)
    merged = _merged(_split(values, cuts), through_json)
    exact = percentile(values, statistic)
    # Then the merged percentile is within the stated relative accuracy of the exact one
    assert merged.exact is None
    assert abs(merged.percentile(statistic) - exact) <= RELATIVE_ACCURACY * abs(exact) * (1 + 1e-9)  # float rounding
    assert merged.count == len(values)


@given(st.integers(min_value=1, max_value=5000), STATISTICS)
def test_the_rank_is_the_one_criteria_takes(count, statistic):
    ordered = [float(i) for i in range(count)]
    assert ordered[rank_index(count, statistic)] == percentile(ordered, statistic)


def test_thresholds_from_sketches_equal_the_exact_fleet_thresholds():
    # Given closed windows of four starts, the last not yet settled
    closed = [(start, float(thing % 17 + start / 300)) for start in (0.0, 300.0, 600.0, 900.0) for thing in range(40)]
    parts = [sketch_windows(closed[i::3]) for i in range(3)]
    # When merged and taken at a time that settles three of them
    found = thresholds_of(merge_parts(parts), "p90", duration_seconds=300, now=1250, settle_seconds=60)
    # Then the same as the exact computation over every window
    assert found == fleet_thresholds(closed, "p90", duration_seconds=300, now=1250, settle_seconds=60)
    assert list(found) == [0.0, 300.0, 600.0]


def test_a_part_keeps_its_latest_window_starts():
    part = sketch_windows([(float(start), 1.0) for start in range(0, 3000, 300)])
    assert list(latest(part, 3)) == [2100.0, 2400.0, 2700.0]


def test_fails_when_a_sketch_is_empty():
    with pytest.raises(ValueError, match="no fleet values"):
        WindowSketch().percentile("p50")


def test_a_sketch_turns_to_buckets_past_the_exact_limit_and_stays_small():
    sketch = WindowSketch()
    for index in range(100_000):
        sketch.add(1.0 + index * 37.3)
    assert sketch.exact is None
    assert len(json.dumps(sketch.to_document())) < 20_000  # well inside DynamoDB's 400 KB item
