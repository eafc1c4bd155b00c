"""The tuning as SQL: on DuckDB over Parquet files of the history's schema it gives the Python tuner's
trade-off table and proposals exactly (percentile columns aside, shown only); the Athena form differs
only by its percentile function; the boto3 Athena runner is checked against botocore's athena model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detect_lab.behaviors import starter_profiles
from detect_lab.replay import Windows, replay_fleet, write_history
from detect_lab.simulator import AttackPlan, FleetSpec, simulate
from detect_lab.sql import Attack, Dialect, SqlTuningError, chosen_rows, run_athena, run_duckdb, tuning_sql
from detect_lab.tune import tune

CLASSES = ["sensor", "gateway", "camera"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """A small attacked fleet's window history on disk, its profiles and its labels."""
    fleet = simulate(FleetSpec(things=20, days=0.375, seed=11, attacks=AttackPlan(per_kind=1)))
    result = replay_fleet(fleet, starter_profiles(CLASSES))
    folder = tmp_path_factory.mktemp("history")
    write_history(result.history, folder)
    return folder, result, fleet.labels


@pytest.mark.parametrize(("target", "labelled"), [(1.0, False), (1.0, True), (300.0, True)])
def test_duckdb_proposes_what_the_python_tuner_proposes(
    recorded: tuple[Path, Any, Any], target: float, labelled: bool
) -> None:
    folder, result, labels = recorded
    attacks = [Attack(label.thing, label.start, label.end) for label in labels] if labelled else []
    # Given the same windows: the Python tuner (no detections scored: the SQL has no labels' attacks to score)
    windows = Windows.from_history(result.history)
    python = tune(windows, result.profiles, target_false_alarms=target, labels=labels if labelled else ())
    # When the SQL runs on DuckDB over the Parquet files
    rows = run_duckdb(folder, result.profiles, target_false_alarms=target, attacks=attacks)
    # Then every candidate's false alarms are the same
    table = {
        (p.profile, p.behavior, c.threshold, c.consecutive): c.false_alarms
        for p in python.proposals
        for c in p.candidates
    }
    assert {(r["profile"], r["behavior"], r["threshold"], r["consecutive"]): r["false_alarms"] for r in rows} == table
    # And so is every proposal where labels did not weigh in (no attack on the behavior's metric)
    chosen = chosen_rows(rows)
    for proposal in python.proposals:
        if proposal.chosen is None or (proposal.chosen.attacks and labelled):
            continue
        row = chosen[(proposal.profile, proposal.behavior)]
        assert (row["threshold"], row["consecutive"], row["meets"]) == (
            proposal.chosen.threshold,
            proposal.chosen.consecutive,
            proposal.met,
        )
        assert row["device_days"] == pytest.approx(proposal.device_days, rel=1e-12)
        assert row["peak"] == proposal.normal_values.max()


def test_the_dialects_differ_by_the_percentile_function_only(recorded: tuple[Path, Any, Any]) -> None:
    _, result, _ = recorded
    athena = tuning_sql('"defender"."window_history"', result.profiles, target_false_alarms=1.0, dialect="athena")
    duckdb = tuning_sql('"defender"."window_history"', result.profiles, target_false_alarms=1.0, dialect=Dialect.DUCKDB)
    assert athena.count("approx_percentile(value") == 2
    assert athena.replace("approx_percentile", "quantile_cont") == duckdb


def test_the_percentile_columns_are_exact_on_duckdb(recorded: tuple[Path, Any, Any]) -> None:
    import numpy as np

    folder, result, _ = recorded
    rows = run_duckdb(folder, result.profiles, target_false_alarms=1.0)
    windows = Windows.from_history(result.history)
    row = next(r for r in rows if r["profile"] == "sensor" and r["behavior"] == "BytesOut")
    values = windows.value[(windows.profile == "sensor") & (windows.behavior == "BytesOut")]
    assert row["p99"] == pytest.approx(float(np.quantile(values, 0.99)), rel=1e-12)


def test_fails_when_nothing_is_tunable() -> None:
    from detect_lab.behaviors import class_profiles, unexpected_listening_ports

    with pytest.raises(SqlTuningError, match="profiles: no 'at most' rule behavior on a windowed count to tune"):
        tuning_sql(
            "t",
            class_profiles({"sensor": [unexpected_listening_ports([22])]}),
            target_false_alarms=1.0,
            dialect="duckdb",
        )


def athena_stubbed(states: list[str], pages: list[dict[str, Any]], sql: str) -> tuple[Any, Any]:
    import boto3
    from botocore.stub import Stubber

    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(athena)
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {"QueryString": sql, "WorkGroup": "history", "QueryExecutionContext": {"Database": "defender"}},
    )
    for state in states:
        status: dict[str, Any] = {"State": state}
        if state == "FAILED":
            status["StateChangeReason"] = "TABLE_NOT_FOUND: window_history"
        stubber.add_response("get_query_execution", {"QueryExecution": {"Status": status}}, {"QueryExecutionId": "q-1"})
    for index, page in enumerate(pages):
        expected = {"QueryExecutionId": "q-1", **({"NextToken": f"t{index}"} if index else {})}
        stubber.add_response("get_query_results", page, expected)
    return athena, stubber


def result_page(rows: list[list[str]], token: str | None, header: bool) -> dict[str, Any]:
    columns = [
        {"Name": "behavior", "Type": "varchar"},
        {"Name": "threshold", "Type": "double"},
        {"Name": "chosen", "Type": "boolean"},
    ]
    data = ([[{"VarCharValue": c["Name"]} for c in columns]] if header else []) + [
        [{"VarCharValue": v} for v in row] for row in rows
    ]
    page: dict[str, Any] = {
        "ResultSet": {"Rows": [{"Data": d} for d in data], "ResultSetMetadata": {"ColumnInfo": columns}}
    }
    if token:
        page["NextToken"] = token
    return page


def test_athena_runs_the_query_in_the_workgroup_and_reads_every_page() -> None:
    # Given Athena (stubbed, each call checked against botocore's model) running then done, two pages of results
    pages = [
        result_page([["MessageStorm", "12.0", "true"]], "t1", True),
        result_page([["BytesOut", "9.5", "false"]], None, False),
    ]
    athena, stubber = athena_stubbed(["RUNNING", "SUCCEEDED"], pages, "SELECT 1")
    waits: list[float] = []
    # When the lab runs it
    with stubber:
        rows = run_athena(athena, "SELECT 1", workgroup="history", database="defender", sleep=waits.append)
        stubber.assert_no_pending_responses()
    # Then the rows are typed by their columns, the header row left out
    assert rows == [
        {"behavior": "MessageStorm", "threshold": 12.0, "chosen": True},
        {"behavior": "BytesOut", "threshold": 9.5, "chosen": False},
    ]
    assert waits == [1.0]


def test_fails_when_the_athena_query_fails() -> None:
    athena, stubber = athena_stubbed(["FAILED"], [], "SELECT 1")
    with stubber, pytest.raises(SqlTuningError, match="Athena query q-1 failed: TABLE_NOT_FOUND: window_history"):
        run_athena(athena, "SELECT 1", workgroup="history", database="defender", sleep=lambda _: None)


def test_fails_when_the_athena_query_runs_too_long() -> None:
    athena, stubber = athena_stubbed(["RUNNING", "RUNNING", "RUNNING"], [], "SELECT 1")
    with stubber, pytest.raises(SqlTuningError, match="has not ended after 2 s"):
        run_athena(
            athena, "SELECT 1", workgroup="history", database="defender", timeout_seconds=2, sleep=lambda _: None
        )


def test_days_limit_the_partitions_read(recorded: tuple[Path, Any, Any]) -> None:
    folder, result, _ = recorded
    sql = tuning_sql("t", result.profiles, target_false_alarms=1.0, dialect="athena", days=("2026-11-02", "2026-11-03"))
    assert "AND h.dt BETWEEN '2026-11-02' AND '2026-11-03'" in sql
    import duckdb

    from detect_lab.sql import parquet_source

    none = tuning_sql(
        parquet_source(folder),
        result.profiles,
        target_false_alarms=1.0,
        dialect="duckdb",
        days=("2020-01-01", "2020-01-02"),
    )
    assert duckdb.connect().execute(none).fetchall() == []


@pytest.mark.parametrize("days", [("2026-11-03", "2026-11-02"), ("2026-11-02",), ("2026-11-02", "x' OR '1'='1")])
def test_fails_when_days_are_not_two_dates_in_order(days: Any) -> None:
    from detect_lab.behaviors import untuned_profiles

    with pytest.raises(SqlTuningError, match=r"days .* must be two dates YYYY-MM-DD, the first not after the second"):
        tuning_sql("t", untuned_profiles(["sensor"]), target_false_alarms=1.0, dialect="athena", days=days)
