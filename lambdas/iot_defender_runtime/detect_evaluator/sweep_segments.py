"""How the sweep is spread over parallel scan segments, so each run stays well inside its timeout.

The schedule's ``{"sweep": true}`` starts a coordinator run. It picks the number of segments from the
size of the state table (``segments_for``: one per ``SWEEP_THINGS_PER_SEGMENT`` items, at most
``SWEEP_MAX_SEGMENTS``); with one it sweeps everything itself, as before. With more it reads how far
the stream has been counted once, then invokes the function asynchronously once per segment with
``{"sweep": true, "segment": i, "segments": n, "sweepId": ..., "settled": ...}``: every segment
judges against the same stream position, and the stream is probed once per sweep, not once per
segment (``GetRecords`` allows 5 calls per second per shard, shared with the event source).

Why the table's item count: it is the fleet size the sweep actually pays for (one state item per
profile and thing, plus the few other items of the table, so it errs on the side of more segments),
it needs no setting to keep up with a growing fleet, and ``DescribeTable`` costs no read capacity. The
count is refreshed about every six hours (DynamoDB ``DescribeTable`` ``ItemCount``), which is soon
enough for a fleet's growth.

Safety: a segment run is idempotent (each state write is conditional on the version it read; the
part it keeps replaces its previous one; finishing it twice counts once). A segment that fails is
retried by the asynchronous invocation (twice), then its event goes to the dead-letter queue; its
things are judged at the next sweep, and the thresholds are merged from the part it kept last time.
A segment that overlaps the next sweep's segment of the same number works on the same items under
the same conditional writes: one of two writers loses and leaves the thing for later.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

DEFAULT_THINGS_PER_SEGMENT = 20_000
DEFAULT_MAX_SEGMENTS = 1
MAX_SEGMENTS = 1000


class SweepEventError(ValueError):
    """A segment event that this function did not write (a wrong or hand-made payload)."""


@dataclass(frozen=True)
class Segment:
    """One of ``total`` segments of the sweep ``sweep_id``; ``settled``: the stream position every
    segment judges by (None: the run reads it itself)."""

    index: int = 0
    total: int = 1
    sweep_id: str = ""
    settled: float | None = None

    def to_event(self) -> dict[str, Any]:
        return {
            "sweep": True,
            "segment": self.index,
            "segments": self.total,
            "sweepId": self.sweep_id,
            "settled": self.settled,
        }


WHOLE = Segment()


@dataclass(frozen=True)
class SweepLayout:
    things_per_segment: int = DEFAULT_THINGS_PER_SEGMENT
    max_segments: int = DEFAULT_MAX_SEGMENTS


@cache
def layout() -> SweepLayout:
    """``SWEEP_THINGS_PER_SEGMENT`` and ``SWEEP_MAX_SEGMENTS``, read and checked once per cold start."""
    problems, numbers = [], {}
    for name, default, upper in (
        ("SWEEP_THINGS_PER_SEGMENT", DEFAULT_THINGS_PER_SEGMENT, 10_000_000),
        ("SWEEP_MAX_SEGMENTS", DEFAULT_MAX_SEGMENTS, MAX_SEGMENTS),
    ):
        raw = os.environ.get(name, str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= upper:
            problems.append(f"{name} '{raw}' must be a whole number from 1 to {upper}")
        numbers[name] = int(raw) if raw.isdigit() else default
    if problems:
        raise ValueError("invalid sweep configuration: " + "; ".join(problems))
    return SweepLayout(numbers["SWEEP_THINGS_PER_SEGMENT"], numbers["SWEEP_MAX_SEGMENTS"])


def segments_for(item_count: int, chosen: SweepLayout) -> int:
    """One segment per ``things_per_segment`` items, at least one, at most ``max_segments``."""
    return max(1, min(chosen.max_segments, math.ceil(item_count / chosen.things_per_segment)))


def plan(total: int, sweep_id: str, settled: float) -> list[Segment]:
    """The segment runs of one sweep."""
    return [Segment(index, total, sweep_id, settled) for index in range(total)]


def segment_of(event: dict[str, Any]) -> Segment:
    """The segment a self-invoked event names; ``SweepEventError`` naming the field otherwise."""
    index, total = event.get("segment"), event.get("segments")
    sweep_id, settled = event.get("sweepId"), event.get("settled")
    if isinstance(total, bool) or not isinstance(total, int) or not 1 <= total <= MAX_SEGMENTS:
        raise SweepEventError(f"segments {total!r} must be a whole number from 1 to {MAX_SEGMENTS}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
        raise SweepEventError(f"segment {index!r} must be a whole number from 0 to {total - 1}")
    if not isinstance(sweep_id, str) or not 0 < len(sweep_id) <= 64:
        raise SweepEventError(f"sweepId {sweep_id!r} must be 1 to 64 characters")
    if settled is not None and (
        isinstance(settled, bool) or not isinstance(settled, int | float) or not math.isfinite(settled)
    ):
        raise SweepEventError(f"settled {settled!r} must be a finite number of epoch seconds")
    return Segment(index, total, sweep_id, None if settled is None else float(settled))
