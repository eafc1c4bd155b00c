"""Replaying a simulated fleet in parts side by side, one process per part: the demo's fleets in
the time of half of one on a 2-core machine.

Each part holds every ``parts``-th thing with the records it has in the whole fleet
(``SimulatedFleet.part_of``), and the evaluator's state is per thing, so the parts' alarms and windows
are the whole fleet's. Two things are shared across things, and so are not split:

- a statistical behavior's threshold is a percentile of the whole fleet: a fleet whose profiles have
  one is replayed in one process;
- AWS IoT log entries reach the stream in records that gather many things' entries: each part ships
  its own things' entries in records of its own, a little smaller and at slightly other times (still
  within the clock skew), which changes no judgement.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

from detect_lab.replay.fleet import replay_fleet
from detect_lab.replay.result import ReplayResult, merged
from detect_lab.simulator import FleetSpec, simulate
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles

MAX_PARTS = 64


def default_parts() -> int:
    """One part per CPU this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def replay_in_parts(
    spec: FleetSpec,
    profiles: DetectProfiles,
    *,
    parts: int | None = None,
    progress: bool = False,
    observe_sets: bool = False,
) -> ReplayResult:
    """``replay_fleet(simulate(spec), profiles)`` in ``parts`` processes (default: one per CPU), each
    simulating and replaying its share of the things; one process when ``parts`` is 1 or a profile
    has a statistical behavior."""
    count = default_parts() if parts is None else parts
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PARTS:
        raise ValueError(f"parts {parts!r} must be an integer from 1 to {MAX_PARTS}")
    count = min(count, spec.things)
    if count == 1 or any(b.definition.kind is BehaviorKind.STATISTICAL for b in profiles.behaviors):
        return replay_fleet(simulate(spec), profiles, progress=progress, observe_sets=observe_sets)
    started = time.perf_counter()
    # spawn: a fresh interpreter per worker, as on every platform (fork is not safe everywhere).
    context = multiprocessing.get_context("spawn")
    quiet = logging.root.manager.disable  # the caller's logging.disable level, which a new process would not have
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = [
            pool.submit(_replay_part, spec, index, count, profiles, (progress and index == 0, observe_sets, quiet))
            for index in range(count)
        ]
        results = [future.result() for future in futures]
    return merged(results, time.perf_counter() - started)


def _replay_part(
    spec: FleetSpec, index: int, parts: int, profiles: DetectProfiles, options: tuple[bool, bool, int]
) -> ReplayResult:
    progress, observe_sets, quiet = options
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF lines from a replay
    logging.disable(quiet)
    return replay_fleet(simulate(spec).part_of(index, parts), profiles, progress=progress, observe_sets=observe_sets)
