"""``iot-defender-lab``, in process (``main([...])``), on tiny fleets: every subcommand's help, what each
writes and prints, and bad arguments failing alone with one line naming the argument, exit status 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect_lab.cli import main
from detect_lab.replay import write_history
from detect_lab.replay.memory import CollectingHistory

TINY = ["--things", "8", "--days", "0.2", "--attacks-per-kind", "1"]
SUBCOMMANDS = ("simulate", "replay", "tune", "export-managed", "demo")


@pytest.fixture(scope="module")
def saved_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "fleet.jsonl"
    assert main(["simulate", *TINY, "--out", str(path)]) == 0
    return path


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert f"usage: iot-defender-lab {command}" in capsys.readouterr().out


def test_simulate_writes_records_labels_and_spec(saved_fleet: Path) -> None:
    records = saved_fleet.read_text().splitlines()
    labels = [json.loads(line) for line in saved_fleet.with_name("fleet.labels.jsonl").read_text().splitlines()]
    spec = json.loads(saved_fleet.with_name("fleet.spec.json").read_text())
    assert records and all(json.loads(line)["eventSource"] == "aws:kinesis" for line in records[:20])
    assert len(labels) == 6 and {label["kind"] for label in labels} >= {"message-storm", "exfiltration"}
    assert spec == {
        "things": 8,
        "days": 0.2,
        "seed": 1,
        "start": spec["start"],
        "shards": 4,
        "attacks": 1,
        "report_interval": 300,
    }


def test_replay_of_a_saved_fleet_equals_replay_of_the_same_fleet_simulated(
    saved_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--records", str(saved_fleet), "--behaviors", "reference"]) == 0
    saved = capsys.readouterr().out
    assert main(["replay", *TINY, "--behaviors", "reference"]) == 0
    simulated = capsys.readouterr().out
    table = saved.split("\n\n")[0]
    assert table == simulated.split("\n\n")[0]
    assert table.splitlines()[0].split() == ["Behavior", "Metric", "Alarms", "Devices", "Recall", "FA/1k", "dd", "TTD"]
    assert [line.split()[0] for line in table.splitlines()[2:5]] == [
        "MessageStorm",
        "CredentialMisuse",
        "ConnectionChurn",
    ]
    assert "all behaviors" in table.splitlines()[-1]


def test_replay_of_history_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = CollectingHistory()
    from detect_lab.behaviors import untuned_profiles
    from iot_defender_runtime.evaluation.engine import ClosedWindow

    storm = next(b for b in untuned_profiles(["sensor"]).behaviors if b.definition.name == "MessageStorm")
    start = 1_793_577_600
    windows = tuple(
        ClosedWindow(start + i * 300, start + (i + 1) * 300, 5000.0 if i in (3, 4) else 10.0, None) for i in range(12)
    )
    history.record(storm, "sensor-000001", windows)
    write_history(history, tmp_path / "history")
    assert (
        main(
            ["replay", "--history", str(tmp_path / "history"), "--behaviors", "reference", "--behavior", "MessageStorm"]
        )
        == 0
    )
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("MessageStorm"))
    assert row.split()[2:4] == ["1", "1"]  # one alarm on one device: two windows over 1000


def test_tune_prints_the_tradeoff_and_writes_code_json_and_profiles(
    saved_fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tuned"
    assert main(["tune", "--records", str(saved_fleet), "--target-false-alarms", "1.0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sensor/MessageStorm: today <= 1000 per 5 min, 2 windows; proposed" in printed
    assert "Threshold  Windows  FA/1k dd  Detected" in printed
    assert "Behavior.rule(" in (out / "tuned_behaviors.py").read_text()
    api = json.loads((out / "tuned_behaviors.json").read_text())
    assert {p["securityProfileName"] for p in api["securityProfiles"]} == {"sensor", "gateway", "camera"}
    capsys.readouterr()
    assert main(["replay", "--records", str(saved_fleet), "--behaviors", str(out / "tuned_profiles.json")]) == 0
    assert "UnexpectedListeningPorts" in capsys.readouterr().out


def test_export_managed_calls_the_lab_export_with_the_arguments(tmp_path: Path, capsys) -> None:
    things = tmp_path / "things.txt"
    things.write_text("sensor-1\n\nsensor-2\n")
    summary = mock.Mock(rows=3, files=(tmp_path / "a.parquet",), pages=2)
    with (
        mock.patch("detect_lab.commands.describe_behaviors", return_value=["b"]) as describe,
        mock.patch("detect_lab.commands.export_managed", return_value=summary) as export,
        mock.patch("boto3.Session") as session,
    ):
        code = main(
            [
                "export-managed",
                "--profile",
                "fleet",
                "--thing",
                "gw-1",
                "--things-file",
                str(things),
                "--start",
                "2026-11-02T00:00:00Z",
                "--end",
                "1793664000",
                "--out",
                str(tmp_path / "h"),
                "--region",
                "eu-west-1",
            ]
        )
    assert code == 0
    session.assert_called_once_with(profile_name=None, region_name="eu-west-1")
    client = session.return_value.client.return_value
    describe.assert_called_once_with(client, "fleet")
    export.assert_called_once_with(
        client,
        ["gw-1", "sensor-1", "sensor-2"],
        "fleet",
        ["b"],
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 3, tzinfo=UTC),
        str(tmp_path / "h"),
    )
    assert "exported 3 rows (2 ListMetricValues pages) into 1 files" in capsys.readouterr().out


def test_export_managed_reports_an_aws_failure_with_status_1(tmp_path: Path, capsys) -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeSecurityProfile")
    with mock.patch("detect_lab.commands.describe_behaviors", side_effect=denied), mock.patch("boto3.Session"):
        code = main(["export-managed", "--profile", "p", "--thing", "t", "--start", "0", "--end", "60", "--out", "x"])
    assert code == 1
    assert _error_line(capsys).startswith("iot-defender-lab export-managed: AWS call failed: An error occurred")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["simulate", "--things", "0", "--out", "x.jsonl"],
            "iot-defender-lab simulate: error: --things 0 must be an integer from 1 to 1,000,000",
        ),
        (
            ["replay", *TINY, "--behavior", "Nope"],
            "iot-defender-lab replay: error: --behavior: behavior 'Nope' is not in the behavior set; known: BytesOut, "
            "ConnectionChurn, CredentialMisuse, MessageStorm, UnexpectedDestinations, UnexpectedListeningPorts",
        ),
        (
            ["tune", *TINY, "--target-false-alarms", "5000"],
            "iot-defender-lab tune: error: --target-false-alarms 5000.0 must be a number from 0.001 to 1000 "
            "(false alarms per 1,000 device-days)",
        ),
        (
            ["replay", "--behaviors", "nowhere.json"],
            "iot-defender-lab replay: error: --behaviors 'nowhere.json' must be reference or starter, or a "
            "DETECT_PROFILES JSON file (as `tune --out` writes); no such file",
        ),
        (
            ["demo", "--days", "0", "--out", "d"],
            "iot-defender-lab demo: error: --days 0.0 must be a number more than 0 and at most 366",
        ),
        (
            ["demo", "--seed", "3", "--eval-seed", "3", "--out", "d"],
            "iot-defender-lab demo: error: --eval-seed 3 must differ from --seed (the tuning fleet's)",
        ),
        (
            ["export-managed", "--profile", "p", "--start", "0", "--end", "1", "--out", "x"],
            "iot-defender-lab export-managed: error: --thing or --things-file: give at least one thing name",
        ),
        (
            ["export-managed", "--profile", "p", "--thing", "t", "--start", "yesterday", "--end", "1", "--out", "x"],
            "iot-defender-lab export-managed: error: --start 'yesterday' must be an ISO 8601 time "
            "(2026-11-02T00:00:00Z) or epoch seconds",
        ),
        (
            ["simulate", "--things", "many", "--out", "x"],
            "iot-defender-lab simulate: error: argument --things: invalid int value: 'many' "
            "(see iot-defender-lab simulate --help)",
        ),
    ],
)
def test_fails_when_an_argument_is_bad(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert _error_line(capsys) == message


def test_fails_when_history_has_a_wrong_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"thing_name": ["a"], "value": ["not a number"]}), tmp_path / "bad.parquet")
    assert main(["replay", "--history", str(tmp_path), "--behaviors", "reference"]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"iot-defender-lab replay: error: --history: history file '{tmp_path / 'bad.parquet'}'")
    assert "expected thing_name string" in line


def test_fails_when_the_records_file_was_not_written_by_simulate(tmp_path: Path, capsys) -> None:
    stray = tmp_path / "stray.jsonl"
    stray.write_text("{}\n")
    assert main(["replay", "--records", str(stray)]) == 2
    assert _error_line(capsys) == (
        f"iot-defender-lab replay: error: --records '{stray}' must be a records file written by `simulate --out` "
        "(with stray.spec.json and stray.labels.jsonl beside it); not found"
    )


@settings(max_examples=30, deadline=None)
@given(things=st.integers(max_value=0) | st.integers(min_value=1_000_001))
def test_fails_for_any_fleet_size_out_of_range_with_one_line(things: int) -> None:
    with mock.patch("sys.stderr") as stderr:
        assert main(["simulate", "--things", str(things), "--out", "never-written.jsonl"]) == 2
    written = "".join(call.args[0] for call in stderr.write.call_args_list)
    assert written == f"iot-defender-lab simulate: error: --things {things} must be an integer from 1 to 1,000,000\n"


@settings(max_examples=30, deadline=None)
@given(rate=st.floats(allow_nan=True, allow_infinity=True).filter(lambda r: not 0.001 <= r <= 1000))
def test_fails_for_any_target_rate_out_of_range_before_any_replay(rate: float) -> None:
    with mock.patch("detect_lab.commands.replay_fleet") as replay, mock.patch("sys.stderr"):
        assert main(["tune", *TINY, "--target-false-alarms", repr(rate)]) == 2
    replay.assert_not_called()


def test_replay_takes_operators_verification_states_as_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--verifications``: the violation log's states (a list, or ``{"violationEvents": [...]}``) are
    checked before anything runs; a bad one fails naming the file and the entry."""
    good = tmp_path / "verified.json"
    events = [{"violationId": "v-1", "verificationState": "FALSE_POSITIVE"}, {"violationId": "v-2"}]  # v-2: unverified
    good.write_text(json.dumps({"violationEvents": events}))
    assert main(["replay", *TINY, "--behaviors", "reference", "--verifications", str(good)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"violationId": "v-1", "verificationState": "MAYBE"}]))
    assert main(["replay", *TINY, "--behaviors", "reference", "--verifications", str(bad)]) == 2
    error = capsys.readouterr().err
    assert f"--verifications '{bad}': verifications[0].verificationState 'MAYBE' must be one of" in error
