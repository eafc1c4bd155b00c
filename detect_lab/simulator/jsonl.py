"""A simulated fleet saved as JSON Lines: one Lambda Kinesis record per line, and its labels beside it.

``write_records(fleet, "fleet.jsonl")`` writes ``fleet.jsonl`` and ``fleet.labels.jsonl`` (one
``AttackLabel`` per line); ``read_records`` and ``read_labels`` read them back, so a saved fleet
replays exactly as the generated one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detect_lab.simulator.attacks import AttackLabel
from detect_lab.simulator.fleet import SimulatedFleet


@dataclass(frozen=True)
class WrittenFleet:
    records_path: Path
    labels_path: Path
    records: int


def labels_path_for(path: str | Path) -> Path:
    """Where the labels of the records at ``path`` are: ``x.jsonl`` -> ``x.labels.jsonl``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".labels.jsonl")


def write_records(fleet: SimulatedFleet, path: str | Path) -> WrittenFleet:
    """Writes every record of ``fleet`` (in arrival order) to ``path`` and its labels beside it."""
    records_path, labels_path = Path(path), labels_path_for(path)
    written = 0
    with records_path.open("w", encoding="utf-8") as out:
        for batch in fleet.batches():
            out.writelines(json.dumps(record, separators=(",", ":")) + "\n" for record in batch.records)
            written += len(batch.records)
    with labels_path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(label.to_json(), separators=(",", ":")) + "\n" for label in fleet.labels)
    return WrittenFleet(records_path, labels_path, written)


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def read_labels(path: str | Path) -> tuple[AttackLabel, ...]:
    """The labels written beside the records at ``path`` (or the labels file itself)."""
    path = Path(path)
    labels = path if path.name.endswith(".labels.jsonl") else labels_path_for(path)
    with labels.open(encoding="utf-8") as lines:
        return tuple(AttackLabel.from_json(json.loads(line)) for line in lines if line.strip())
