"""Learned behaviors (self-hosted ML Detect): training time at fleet scale, model size, and what the
models detect in the Detect lab.

1. Training time for ``--things`` things x 14 days of 5-minute windows (10,000 x 4,032 = 40.3 million
   windows of one behavior): the trainer's own SQL (``adapters.history_query.training_sql``, what Athena
   runs over the history table) run by DuckDB over day-partitioned Parquet of the history schema on this
   machine, plus building the model from its rows. Athena spreads the same query over many workers; this
   is a single-machine upper bound.
2. Model bytes: the largest model item (the state table item's JSON) of the lab's models.
3. Recall and false alarms: models trained on ``--train-things`` simulated things x 14 days of seed
   ``--train-seed`` (no attacks), then the lab's evaluation fleet (``--eval-things`` x ``--eval-days`` of seed
   ``--eval-seed``, ``--attacks-per-kind`` attacks of each kind: the demo's evaluation seed by default) replayed
   through the evaluator with those models; ML behaviors only, no thresholds given. Recall is over every
   injected attack, and over those whose metrics ML Detect supports (a new destination IP shows only in
   aws:destination-ip-addresses, a list metric ML Detect does not take).

Ends with one JSON line:
``{"train_s_10k_things": ..., "model_bytes": ..., "recall": ..., "false_alarms_per_1000_device_days": ...}``.

    .venv/bin/python bench/ml_training.py                 # about 10 minutes on 2 cores, 7 GB of memory
    .venv/bin/python bench/ml_training.py --things 1000 --train-things 20 --eval-things 50 --eval-days 1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detect_lab.learned import draw_band, learned_profiles, replay_with_models, train_models
from detect_lab.scoring import score_replay
from detect_lab.simulator import DEVICE_CLASSES, AttackPlan, FleetSpec, simulate
from detect_lab.simulator.attacks import AttackKind
from iot_defender_runtime.adapters.history_query import stats_of_rows, training_sql
from iot_defender_runtime.evaluation.learned import train, training_span
from iot_defender_runtime.model.learned_model import DAY, WINDOW_SECONDS
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS, partition_day

START = 1_793_577_600.0  # Monday 2026-11-02 00:00 UTC
ML_BLIND = {AttackKind.NEW_DESTINATION_IP.value}  # only in a list metric, which ML Detect does not support


def write_history(root: Path, things: int, seed: int) -> int:
    """14 days of one behavior's 5-minute windows for ``things`` things, one Parquet file per day."""
    rng = np.random.default_rng(seed)
    names = pa.array([f"thing-{i:06d}" for i in range(things)])
    factor = rng.lognormal(0.0, 0.3, things)  # each thing's own level
    schema = pa.schema(
        [
            (n, pa.string() if t == "string" else pa.int64() if t == "bigint" else pa.float64())
            for n, t in HISTORY_COLUMNS
        ]
    )
    total = 0
    per_day = int(DAY // WINDOW_SECONDS)
    for day in range(14):
        starts = START + day * DAY + WINDOW_SECONDS * np.arange(per_day)
        hours = ((starts % DAY) // 3600).astype(int)
        daily = np.where((hours >= 7) & (hours < 19), 1.0, 0.3) * (0.5 if day % 7 >= 5 else 1.0)
        mean = np.outer(factor, 40.0 * daily)
        values = rng.poisson(mean).astype(np.float64).ravel()
        thing_index = np.repeat(np.arange(things), per_day)
        start_column = np.tile(starts.astype(np.int64), things)
        table = pa.table(
            {
                "thing_name": names.take(pa.array(thing_index)),
                "profile": pa.array(["fleet"] * len(values)),
                "behavior": pa.array(["learned-num-messages-sent"] * len(values)),
                "metric": pa.array(["aws:num-messages-sent"] * len(values)),
                "window_start": start_column,
                "window_end": start_column + WINDOW_SECONDS,
                "value": values,
                "verdict": pa.array(["unjudged"] * len(values)),
            },
            schema=schema,
        )
        folder = root / f"dt={partition_day(START + day * DAY + DAY - 1)}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-0.parquet")
        total += len(values)
    return total


def sql_training_seconds(things: int) -> tuple[float, int]:
    """Seconds DuckDB takes to run the training query over ``things`` x 14 days, and the windows."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        windows = write_history(root, things, seed=1)
        connection = duckdb.connect(config={"threads": 2, "memory_limit": "6GB", "temp_directory": str(root / "spill")})
        connection.execute(
            f"CREATE VIEW history AS SELECT * FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
        )
        now = START + 14 * DAY
        start, end = training_span(now)
        started = time.perf_counter()
        rows = connection.execute(training_sql("history", "fleet", "learned-num-messages-sent", start, end)).fetchall()
        data = stats_of_rows(rows)
        model = train(
            None,
            profile="fleet",
            behavior="learned-num-messages-sent",
            metric="aws:num-messages-sent",
            stats=data.stats,
            datapoints=data.windows,
            earliest=data.earliest,
            now=now,
        )
        seconds = time.perf_counter() - started
        assert model.status == "ACTIVE" and data.windows == windows, (model.status, data.windows, windows)
        return seconds, windows


def chart(columns: dict, evaluation: object, models: object, path: Path) -> Path:
    """The learned band of the messages-sent model of the first storm's thing's class, with that thing's windows."""
    storm = next(label for label in evaluation.labels if label.kind is AttackKind.MESSAGE_STORM)  # type: ignore[attr-defined]
    profile, behavior = storm.thing.split("-")[0], "learned-num-messages-sent"
    points = [
        (float(start), float(value))
        for thing, name, start, value in zip(
            columns["thing_name"], columns["behavior"], columns["window_start"], columns["value"], strict=True
        )
        if thing == storm.thing and name == behavior
    ]
    attacks = [(label.start, label.end) for label in evaluation.labels if label.thing == storm.thing]  # type: ignore[attr-defined]
    model = models.models[f"learned#{profile}#{behavior}"]  # type: ignore[attr-defined]
    return draw_band(model, points, attacks, path, start=evaluation.spec.start)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--things", type=int, default=10_000, help="things of the SQL training run")
    parser.add_argument("--train-things", type=int, default=300, help="simulated things trained on (14 days)")
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--eval-things", type=int, default=500)
    parser.add_argument("--eval-days", type=float, default=3.0)
    parser.add_argument("--eval-seed", type=int, default=2)
    parser.add_argument("--attacks-per-kind", type=int, default=5)
    parser.add_argument("--chart", type=Path, help="write a week of a storm-attacked thing's learned band here (PNG)")
    arguments = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the evaluator's "not judged yet" lines while the training fleet replays

    seconds, windows = sql_training_seconds(arguments.things)
    print(f"training query: {arguments.things} things x 14 days = {windows:,} windows in {seconds:.1f} s (DuckDB)")

    classes = [c.name for c in DEVICE_CLASSES]
    profiles = learned_profiles(classes)
    started = time.perf_counter()
    training = simulate(FleetSpec(things=arguments.train_things, days=14, seed=arguments.train_seed))
    models, python_seconds = train_models(training, profiles)
    statuses = {m.status for m in models.models.values()}
    print(
        f"lab training: {arguments.train_things} things x 14 days replayed and trained in "
        f"{time.perf_counter() - started:.0f} s (training itself {python_seconds:.2f} s); statuses {sorted(statuses)}"
    )
    sizes = models.item_bytes()
    model_bytes = max(sizes.values())
    print(f"model bytes: largest {model_bytes}, mean {sum(sizes.values()) / len(sizes):.0f} over {len(sizes)} models")

    started = time.perf_counter()
    evaluation = simulate(
        FleetSpec(
            things=arguments.eval_things,
            days=arguments.eval_days,
            seed=arguments.eval_seed,
            attacks=AttackPlan(per_kind=arguments.attacks_per_kind),
        )
    )
    replay = replay_with_models(evaluation, profiles, models)
    score = score_replay(replay, evaluation.labels)
    if arguments.chart is not None:
        print(f"chart: {chart(replay.history.columns(), evaluation, models, arguments.chart)}")
    learnable = [d for d in score.detections if d.kind not in ML_BLIND]
    recall_learnable = sum(d.detected for d in learnable) / len(learnable) if learnable else None
    print(
        f"evaluation: {arguments.eval_things} things x {arguments.eval_days} days (seed {arguments.eval_seed}) in "
        f"{time.perf_counter() - started:.0f} s: {score.detected}/{score.attacks} attacks detected "
        f"(recall {score.recall:.3f}; {recall_learnable:.3f} of those in ML Detect's metrics), "
        f"{score.false_alarms} false alarms = {score.false_alarms_per_1000_device_days:.2f} per 1,000 device-days"
    )
    for kind in AttackKind:
        found = [d for d in score.detections if d.kind == kind.value]
        print(f"  {kind.value}: {sum(d.detected for d in found)}/{len(found)}")
    figures = {
        "train_s_10k_things": round(seconds, 2) if arguments.things == 10_000 else None,
        "model_bytes": model_bytes,
        "recall": round(score.recall or 0.0, 4),
        "recall_ml_metrics": round(recall_learnable or 0.0, 4),
        "false_alarms_per_1000_device_days": round(score.false_alarms_per_1000_device_days, 3),
    }
    if arguments.things != 10_000:
        figures[f"train_s_{arguments.things}_things"] = round(seconds, 2)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
