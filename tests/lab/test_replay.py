"""Replay: a small simulated fleet with one attack of each kind through the evaluator's own batch and
sweep code; its window history re-judged through the engine gives the same windows and verdicts; bad
history files refused with a message naming the file and the column."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from detect_lab.behaviors import starter_profiles, untuned_profiles
from detect_lab.replay import (
    HistoryError,
    ReplayResult,
    Windows,
    read_history,
    replay_fleet,
    replay_history,
    write_history,
)
from detect_lab.replay.fleet import merged
from detect_lab.scoring import score_replay
from detect_lab.simulator import DEFAULT_START, AttackKind, AttackLabel, AttackPlan, FleetSpec, simulate
from detect_lab.simulator.fleet import StreamBatch
from detect_lab.simulator.spec import thing_at
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS

CLASSES = ["sensor", "gateway", "camera"]
HOUR = 3600.0


def attacks(seed: int) -> AttackPlan:
    """One attack of each kind, an hour each, on six different things, from the second hour on."""
    labels = [
        AttackLabel.of(
            kind, thing_at(seed, index).name, DEFAULT_START + (1 + index) * HOUR, DEFAULT_START + (2 + index) * HOUR
        )
        for index, kind in enumerate(AttackKind)
    ]
    return AttackPlan.of(*labels)


@pytest.fixture(scope="module")
def fleet():  # type: ignore[no-untyped-def]
    return simulate(FleetSpec(things=24, days=0.375, seed=5, attacks=attacks(5)))


@pytest.fixture(scope="module")
def starter(fleet) -> ReplayResult:  # type: ignore[no-untyped-def]
    return replay_fleet(fleet, starter_profiles(CLASSES), observe_sets=True)


def test_the_starter_behaviors_detect_what_their_first_guesses_reach(fleet, starter: ReplayResult) -> None:  # type: ignore[no-untyped-def]
    # Given a replay of the fleet with a behavior on each attack's metric, at generic first guesses
    score = score_replay(starter, fleet.labels)
    detected = {d.kind for d in score.detections if d.detected}
    # Then the set behaviors and the low counts catch their attacks, while 1,000 messages per 5 minutes
    # is far above a storm of 5-20 times a device's peak
    assert {"credential-probing", "new-listening-port", "cloned-identity", "new-destination-ip"} <= detected
    assert "message-storm" not in detected
    assert starter.datapoints > starter.records > 0
    assert starter.device_days == pytest.approx(24 * 0.375)


def test_the_untuned_behaviors_see_only_their_three_metrics(fleet) -> None:  # type: ignore[no-untyped-def]
    result = replay_fleet(fleet, untuned_profiles(CLASSES))
    assert {alarm.behavior for alarm in result.alarms()} <= {"MessageStorm", "CredentialMisuse", "ConnectionChurn"}
    detected = {d.kind for d in score_replay(result, fleet.labels).detections if d.detected}
    assert "exfiltration" not in detected and "new-listening-port" not in detected


def test_set_values_are_observed_outside_the_attacks(fleet, starter: ReplayResult) -> None:  # type: ignore[no-untyped-def]
    assert starter.observed is not None
    port_attack = next(label for label in fleet.labels if label.kind is AttackKind.NEW_LISTENING_PORT)
    ports = starter.observed.values[(port_attack.thing, "aws:listening-tcp-ports")]
    normal_ports = set(next(t for t in fleet.things if t.name == port_attack.thing).device_class.tcp_ports)
    assert set(ports) == normal_ports


def test_the_history_rejudged_gives_the_same_windows_and_verdicts(starter: ReplayResult, tmp_path: Path) -> None:
    # Given the replay's window history written as the Firehose would (Parquet, one file per day)
    files = write_history(starter.history, tmp_path)
    assert files and all(f.parent.name.startswith("dt=") for f in files)
    # When the same behaviors re-judge it
    again = replay_history(tmp_path, starter.profiles)

    # Then every window comes back with its value and verdict, and the alarms are the same
    def keyed(windows: Windows) -> set[tuple[object, ...]]:
        return set(
            zip(
                windows.profile,
                windows.behavior,
                windows.thing,
                windows.start.tolist(),
                windows.value.tolist(),
                windows.verdict,
                strict=True,
            )
        )

    assert keyed(Windows.from_history(again.history)) == keyed(read_history(tmp_path))
    windowed = {
        (a.thing, a.behavior, a.start)
        for a in starter.alarms()
        if a.metric not in ("aws:listening-tcp-ports", "aws:destination-ip-addresses")
    }
    assert {(a.thing, a.behavior, a.start) for a in again.alarms()} == windowed
    assert again.counts["skipped_behaviors"] == 6  # the two set behaviors of each class


def test_a_behavior_can_be_judged_on_longer_windows(starter: ReplayResult) -> None:
    from dataclasses import replace

    from detect_lab.behaviors import class_profiles, message_storm

    fifteen = class_profiles({"sensor": [replace(message_storm(5), name="Storm15", duration_seconds=900)]})
    result = replay_history(Windows.from_history(starter.history), fifteen)
    starts = {int(s) for s in Windows.from_history(result.history).start}
    assert starts and all(s % 900 == 0 for s in starts)


def test_fails_when_no_recorded_window_fits_a_behavior(starter: ReplayResult) -> None:
    from dataclasses import replace

    from detect_lab.behaviors import bytes_out, class_profiles, connection_churn

    windows = Windows.from_history(starter.history)
    unrecorded = class_profiles({"sensor": [replace(bytes_out(10), name="BytesIn", metric="aws:all-bytes-in")]})
    with pytest.raises(HistoryError, match=r"behavior 'BytesIn': the history holds no windows of aws:all-bytes-in"):
        replay_history(windows, unrecorded)
    shorter = class_profiles({"sensor": [replace(connection_churn(5), name="Churn5", duration_seconds=300)]})
    with pytest.raises(
        HistoryError,
        match=r"'Churn5' \(aws:num-connection-attempts, 300 s windows\): the history holds its metric in 900 s",
    ):
        replay_history(windows, shorter)


def test_fails_when_a_history_file_has_the_wrong_schema(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"thing_name": ["t"], "window_start": ["not a number"]}), tmp_path / "bad.parquet")
    with pytest.raises(
        HistoryError, match=r"bad.parquet' has no column 'profile'; expected thing_name string, profile string"
    ):
        read_history(tmp_path)
    pq.write_table(
        pa.table(
            {
                name: [1] if name != "value" else ["x"]
                for name in (
                    "thing_name",
                    "profile",
                    "behavior",
                    "metric",
                    "window_start",
                    "window_end",
                    "value",
                    "verdict",
                )
            }
        ),
        tmp_path / "bad.parquet",
    )
    with pytest.raises(HistoryError, match=r"column 'thing_name' is BIGINT, expected string \(VARCHAR\)"):
        read_history(tmp_path)


@pytest.mark.parametrize("name", ["missing.parquet", "empty-dir"])
def test_fails_when_there_is_no_history_file(tmp_path: Path, name: str) -> None:
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(HistoryError, match=r"history '.*"):
        read_history(tmp_path / name)


def test_fails_when_a_file_is_not_parquet(tmp_path: Path) -> None:
    (tmp_path / "notes.parquet").write_text("hello")
    with pytest.raises(HistoryError, match="is not a Parquet file"):
        read_history(tmp_path / "notes.parquet")


def test_batches_are_gathered_per_shard_within_the_window_and_size() -> None:
    # Given per-minute batches of two shards
    batches = [StreamBatch(60.0 * i, f"s{i % 2}", [{"n": i}]) for i in range(10)]
    # When gathered for 5 minutes, at most 2 records
    out = list(merged(batches, 300.0, 2))
    # Then no record is lost or reordered within its shard, no batch exceeds the size, time never goes back
    for shard in ("s0", "s1"):
        records = [r["n"] for b in out if b.shard == shard for r in b.records]
        assert records == [i for i in range(10) if f"s{i % 2}" == shard]
    assert max(len(b.records) for b in out) == 2
    arrivals = [b.arrival for b in out]
    assert arrivals == sorted(arrivals)


def test_progress_goes_to_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    from detect_lab.replay.fleet import _plain_progress, _progress

    batches = [StreamBatch(3600.0 * i, "s", []) for i in range(3)]
    assert list(_progress(batches, 0.0, 7200.0, False)) == batches
    assert capsys.readouterr() == ("", "")
    assert list(_progress(batches, 0.0, 7200.0, True)) == batches
    captured = capsys.readouterr()
    assert captured.out == "" and "replay (simulated hours)" in captured.err and "100%" in captured.err
    lines: list[str] = []
    assert list(_plain_progress(batches, 0.0, 7200.0, lines.append)) == batches
    assert lines == ["\rreplay: 0 % of 2 simulated hours", "\n"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(HISTORY_COLUMNS), st.sampled_from(["string", "bigint", "double", "missing"]))
def test_fails_naming_the_column_of_any_wrong_schema(tmp_path: Path, column: tuple[str, str], kind: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name, expected = column
    assume(kind != expected)
    types = {"string": (pa.string(), "x"), "bigint": (pa.int64(), 1), "double": (pa.float64(), 1.5)}
    table = {n: pa.array([types[k][1]], type=types[k][0]) for n, k in HISTORY_COLUMNS}
    if kind == "missing":
        del table[name]
    else:
        table[name] = pa.array([types[kind][1]], type=types[kind][0])
    path = tmp_path / f"{name}-{kind}.parquet"
    pq.write_table(pa.table(table), path)
    with pytest.raises(HistoryError, match=f"'{name}'"):
        read_history(path)
