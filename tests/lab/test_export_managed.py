"""export-managed: ListMetricValues (a fake validated against the iot model, paginated as the API is)
into window history Parquet, verdict 'unjudged', partitioned by day; bad arguments refused at once
with every problem named, before any AWS call."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detect_lab.export_managed import ExportError, describe_behaviors, export_managed, value_of
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind, DimensionFilter
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS
from tests.fakes.list_metric_values import FakeMetricValues

START = datetime(2026, 9, 1, 23, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
T0 = START.timestamp()
STORM = BehaviorDefinition(
    "MessageStorm",
    "aws:num-messages-sent",
    BehaviorKind.RULE,
    "less-than-equals",
    {"count": 100},
    duration_seconds=300,
)
LIKE_FLEET = BehaviorDefinition(
    "LikeTheFleet", "aws:num-messages-sent", BehaviorKind.STATISTICAL, "less-than-equals", statistic="p99",
    duration_seconds=900,
)  # fmt: skip
PORTS = {
    "name": "ListeningPorts",
    "metric": "aws:listening-tcp-ports",
    "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": [443]}},
}


def rows_in(directory) -> list[tuple]:
    names = ", ".join(name for name, _ in HISTORY_COLUMNS)
    query = f"SELECT {names} FROM read_parquet(?) ORDER BY behavior, thing_name, window_start"
    return duckdb.connect().execute(query, [f"{directory}/**/*.parquet"]).fetchall()


def test_values_are_paged_through_and_summed_per_window_of_each_behavior(tmp_path):
    # Given 600 values, one a minute from 23:00 (three pages of 250), and two behaviors on that metric
    values = [(T0 + 60 * i, {"count": 1}) for i in range(120)] * 5
    values.sort(key=lambda v: v[0])
    with FakeMetricValues() as fake:
        fake.serve("meter-1", "aws:num-messages-sent", values, start=START, end=END)
        summary = export_managed(fake.client, ["meter-1"], "fleet", [STORM, LIKE_FLEET], START, END, tmp_path)
        fake.stub.assert_no_pending_responses()
    # Then one series read (3 pages) serves both behaviors, each in its own windows
    assert summary.pages == 3 and len(fake.requests) == 3
    rows = rows_in(tmp_path)
    storm = [r for r in rows if r[2] == "MessageStorm"]
    fleet = [r for r in rows if r[2] == "LikeTheFleet"]
    assert len(storm) == 24 and {r[6] for r in storm} == {25.0}  # 5 minutes x 5 values a minute
    assert len(fleet) == 8 and {r[6] for r in fleet} == {75.0}
    assert storm[0] == (
        "meter-1", "fleet", "MessageStorm", "aws:num-messages-sent", int(T0), int(T0) + 300, 25.0, "unjudged"
    )  # fmt: skip
    assert summary.rows == 32


def test_files_are_the_history_schema_partitioned_by_the_day_of_window_end(tmp_path):
    with FakeMetricValues() as fake:
        fake.serve("meter-1", "aws:num-messages-sent", [(T0 + 10, {"count": 4}), (T0 + 3700, {"count": 6})],
                   start=START, end=END)  # fmt: skip
        summary = export_managed(fake.client, ["meter-1"], "fleet", [STORM], START, END, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in summary.files] == [
        "dt=2026-09-01/managed-fleet.parquet",
        "dt=2026-09-02/managed-fleet.parquet",
    ]
    schema = pq.read_schema(summary.files[0])
    assert [(f.name, str(f.type)) for f in schema] == [
        ("thing_name", "string"), ("profile", "string"), ("behavior", "string"), ("metric", "string"),
        ("window_start", "int64"), ("window_end", "int64"), ("value", "double"), ("verdict", "string"),
    ]  # fmt: skip
    assert [r[6] for r in rows_in(tmp_path)] == [4.0, 6.0]


def test_a_per_datapoint_behavior_gets_one_row_per_value_and_lists_count_their_items(tmp_path):
    with FakeMetricValues() as fake:
        fake.serve("cam-1", "aws:listening-tcp-ports", [(T0 + 5, {"ports": [443, 22]}), (T0 + 300, {"ports": []})],
                   start=START, end=END)  # fmt: skip
        export_managed(fake.client, ["cam-1"], "cameras", [PORTS], START, END, tmp_path)
    assert [(r[4], r[5], r[6]) for r in rows_in(tmp_path)] == [
        (int(T0) + 5, int(T0) + 5, 2.0),
        (int(T0) + 300, int(T0) + 300, 0.0),
    ]


def test_a_behavior_with_a_dimension_asks_for_that_dimension_and_each_thing_is_read(tmp_path):
    on_topic = BehaviorDefinition(
        "TopicStorm", "aws:num-messages-sent", BehaviorKind.RULE, "less-than-equals", {"count": 5},
        duration_seconds=300, dimension=DimensionFilter("telemetry", "NOT_IN"),
    )  # fmt: skip
    with FakeMetricValues() as fake:
        for thing in ("a", "b"):
            fake.serve(thing, "aws:num-messages-sent", [(T0 + 1, {"count": 9})], start=START, end=END,
                       dimension=("telemetry", "NOT_IN"))  # fmt: skip
        summary = export_managed(fake.client, ["a", "b"], "fleet", [on_topic], START, END, tmp_path)
        fake.stub.assert_no_pending_responses()
    assert summary.pages == 2
    assert [(r[0], r[6]) for r in rows_in(tmp_path)] == [("a", 9.0), ("b", 9.0)]


def test_exporting_again_replaces_the_profiles_files_rather_than_doubling_them(tmp_path):
    for _ in range(2):
        with FakeMetricValues() as fake:
            fake.serve("meter-1", "aws:num-messages-sent", [(T0 + 10, {"count": 4})], start=START, end=END)
            export_managed(fake.client, ["meter-1"], "fleet", [STORM], START, END, tmp_path)
    assert len(rows_in(tmp_path)) == 1


def test_behaviors_are_read_from_describe_security_profile():
    with FakeMetricValues() as fake:
        fake.stub.add_response(
            "describe_security_profile",
            {"securityProfileName": "fleet", "behaviors": [STORM.to_api(), PORTS]},
            {"securityProfileName": "fleet"},
        )
        assert [b.name for b in describe_behaviors(fake.client, "fleet")] == ["MessageStorm", "ListeningPorts"]


def test_metric_values_of_each_shape_become_numbers():
    assert [value_of(v) for v in ({"count": 3}, {"number": 2.5}, {"cidrs": ["10.0.0.0/8"]}, {"strings": []}, {})] == [
        3.0, 2.5, 1.0, 0.0, 0.0,
    ]  # fmt: skip


def test_fails_with_every_problem_named_before_any_call(tmp_path):
    with FakeMetricValues() as fake, pytest.raises(ExportError) as raised:  # no response queued: a call would fail
        export_managed(
            fake.client,
            ["ok", "not ok"],
            "",
            [STORM, STORM, {"metric": "x"}],
            END,
            START.replace(tzinfo=None),
            tmp_path,
        )
    assert str(raised.value) == (
        "thing 'not ok' must be 1 to 128 of [a-zA-Z0-9:_-]; "
        "profile '' must be 1 to 128 of [a-zA-Z0-9:_-]; "
        "behavior {'metric': 'x'} is not a Behavior of the IoT API (name, metric, criteria); "
        "behavior name 'MessageStorm' is given more than once; "
        "end must be a timezone-aware datetime, e.g. datetime(2026, 9, 1, tzinfo=UTC)"
    )
    assert list(tmp_path.iterdir()) == []


def test_fails_when_there_is_nothing_to_export_or_the_range_is_backwards(tmp_path):
    with pytest.raises(ExportError) as raised:
        export_managed(None, [], "fleet", [], END, START, tmp_path)
    assert str(raised.value) == (
        "things [] must be a list of at least one thing name; "
        "behaviors is empty; give the profile's behaviors (describe_behaviors reads them); "
        f"start {END.isoformat()} must be before end {START.isoformat()}"
    )


@settings(max_examples=50, deadline=None)
@given(
    things=st.one_of(st.text(max_size=5), st.lists(st.text(max_size=140), max_size=3)),
    profile=st.text(max_size=140),
    hours=st.integers(-3, 3),
)
def test_bad_arguments_always_fail_with_an_export_error_and_no_call(tmp_path_factory, things, profile, hours):
    # Given arguments of which at least one is wrong (a name outside the pattern, no things, an empty range)
    out = tmp_path_factory.mktemp("out")
    end = START + timedelta(hours=hours)
    names = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
    valid = isinstance(things, list) and things and all(names.fullmatch(t) for t in things)
    assume(not (valid and names.fullmatch(profile) and hours > 0))
    with pytest.raises(ExportError):
        export_managed(None, things, profile, [STORM], START, end, out)  # None: any AWS call would raise otherwise
    assert list(out.iterdir()) == []
