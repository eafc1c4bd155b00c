"""The tuner (``detect_lab.tune``) as one SQL query over the window history table, for fleets a laptop
cannot hold: Athena runs it over the Glue table (Presto/Trino SQL), DuckDB over local Parquet files
of the same schema, and it proposes what the Python tuner proposes from the same windows (without
labels' detections, which need the labelled attacks; their windows are left out all the same).

The steps, as in ``detect_lab.tune.streaks``: per (profile, behavior, thing), windows in start order
(one per key: delivery is at least once); windows overlapping a labelled attack taken out (and
counted, so a run or episode never spans them); the normal peak; candidate thresholds (the current
one, and ``ceil(peak x m)`` for each multiplier); for each, the violating windows (values grown by the
headroom) grouped into runs (gaps and islands on the window's place among its thing's windows, and,
for cloud-side counts, on time) and runs into episodes (separated by fewer than
``consecutiveDatapointsToClear`` normal windows); an episode is one alarm when its longest run is at
least ``k`` long. Each candidate's rate against the behavior's budget picks the proposal.

Dialects differ in one place: the percentile columns (``p99``, ``p999``, shown beside the peak, not
used for the proposal): Athena's ``approx_percentile`` is approximate (Presto's quantile digest), DuckDB's
``quantile_cont`` is exact (linear interpolation). Everything that decides the proposal is exact and
computed the same way in both (doubles parsed from text, integer comparisons on window times).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from detect_lab.tune.streaks import MAX_CONSECUTIVE
from detect_lab.tune.tuner import MULTIPLIERS, UPPER_OPERATORS, budgets, check_headroom, check_target
from iot_defender_runtime.detect_evaluator.stream_time import fills_empty
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileBehavior
from iot_defender_runtime.model.metric_catalog import ValueKind


class Dialect(str, Enum):
    ATHENA = "athena"
    DUCKDB = "duckdb"


_PERCENTILE = {Dialect.ATHENA: "approx_percentile", Dialect.DUCKDB: "quantile_cont"}
COLUMNS = (
    "profile",
    "behavior",
    "threshold",
    "consecutive",
    "false_alarms",
    "device_days",
    "false_alarms_per_1000_device_days",
    "budget",
    "meets",
    "chosen",
    "normal_windows",
    "peak",
    "p99",
    "p999",
)


class SqlTuningError(ValueError):
    """Nothing the query could tune, or a bad argument; the message names it."""


@dataclass(frozen=True)
class Attack:
    """A labelled attack's thing and times (epoch seconds): its windows are not normal."""

    thing: str
    start: float
    end: float


def tunable(behavior: ProfileBehavior) -> bool:
    """What both tuners tune by threshold: "at most" rule behaviors on windowed counts."""
    d = behavior.definition
    return (
        d.kind is BehaviorKind.RULE
        and d.comparison_operator in UPPER_OPERATORS
        and d.duration_seconds is not None
        and behavior.spec.value_kind is ValueKind.COUNT
    )


def tuning_sql(
    source: str,
    profiles: DetectProfiles,
    *,
    target_false_alarms: float,
    dialect: Dialect | str,
    attacks: Sequence[Attack] = (),
    headroom: float = 1.25,
    days: tuple[str, str] | None = None,
) -> str:
    """The query: every candidate of every tunable behavior of ``profiles`` (``COLUMNS``), ``chosen`` on
    the proposal.

    :param source: what to read: ``"db"."table"`` (Athena), or ``read_parquet('<glob>')`` (DuckDB).
    :param days: the first and last ``dt`` partition to read (``YYYY-MM-DD``), so Athena scans those days
        only. Default: every partition.
    :raises SqlTuningError: when ``profiles`` has no behavior the tuner tunes by threshold, or ``days``
        is not two dates in order.
    """
    dialect = Dialect(dialect)
    target = check_target(target_false_alarms)
    headroom = check_headroom(headroom)
    shares = budgets(profiles, target)
    rows = [_param_row(b, shares[(b.profile, b.definition.name)]) for b in profiles.behaviors if tunable(b)]
    if not rows:
        raise SqlTuningError("profiles: no 'at most' rule behavior on a windowed count to tune")
    extra = _partitions(days)
    return _QUERY.format(
        params=",\n    ".join(rows),
        labels=_labels(attacks),
        multipliers=", ".join(f"({_double(m)})" for m in MULTIPLIERS),
        ks=", ".join(f"({k})" for k in range(1, MAX_CONSECUTIVE + 1)),
        source=source,
        where=extra,
        headroom=_double(headroom),
        percentile=_PERCENTILE[dialect],
    )


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _partitions(days: tuple[str, str] | None) -> str:
    if days is None:
        return ""
    if (
        not isinstance(days, tuple)
        or len(days) != 2
        or not all(isinstance(d, str) and _DAY.fullmatch(d) for d in days)
        or days[0] > days[1]
    ):
        raise SqlTuningError(f"days {days!r} must be two dates YYYY-MM-DD, the first not after the second")
    return f" AND h.dt BETWEEN '{days[0]}' AND '{days[1]}'"


def _param_row(behavior: ProfileBehavior, budget: float) -> str:
    d = behavior.definition
    value = d.value or {}
    current = value.get("count", value.get("number"))
    return (
        f"({_text(behavior.profile)}, {_text(d.name)}, {int(d.duration_seconds or 0)}, "
        f"{'true' if fills_empty(behavior) else 'false'}, {d.consecutive_datapoints_to_clear}, "
        f"{'true' if UPPER_OPERATORS[d.comparison_operator or ''] else 'false'}, {_double(budget)}, "
        f"{_double(float(current)) if current is not None else 'CAST(NULL AS DOUBLE)'})"
    )


def _labels(attacks: Sequence[Attack]) -> str:
    if not attacks:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS thing_name, CAST(NULL AS DOUBLE) AS attack_start, "
            "CAST(NULL AS DOUBLE) AS attack_end WHERE 1 = 0"
        )
    values = ", ".join(f"({_text(a.thing)}, {_double(a.start)}, {_double(a.end)})" for a in attacks)
    return f"SELECT * FROM (VALUES {values}) AS l(thing_name, attack_start, attack_end)"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double(value: float) -> str:
    """A double as both engines read it exactly: parsed from its shortest round-trip text."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def chosen_rows(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The proposal of each (profile, behavior), from the query's rows."""
    return {(r["profile"], r["behavior"]): r for r in rows if r["chosen"]}


_PARTITION = "PARTITION BY profile, behavior, threshold, thing_name"
_RUNNING = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
_ON = "ON {a}.profile = {b}.profile AND {a}.behavior = {b}.behavior"

_QUERY = f"""-- Detect lab: thresholds from the window history (detect_lab/sql/tuning.py)
WITH
params AS (
  SELECT * FROM (VALUES
    {{params}}
  ) AS p(profile, behavior, duration, fill, clear_n, strict, budget, current_threshold)
),
labels AS ({{labels}}),
multipliers AS (SELECT * FROM (VALUES {{multipliers}}) AS m(multiplier)),
ks AS (SELECT * FROM (VALUES {{ks}}) AS c(k)),
history AS (
  SELECT h.thing_name, h.profile, h.behavior, h.window_start, h.window_end, h.value
  FROM {{source}} h
  WHERE h.profile IN (SELECT profile FROM params){{where}}
),
days AS (
  SELECT profile,
         count(DISTINCT thing_name) * CAST(max(window_end) - min(window_start) AS DOUBLE) / 86400 AS device_days
  FROM history GROUP BY profile
),
windows AS (
  SELECT h.profile, h.behavior, h.thing_name, h.window_start, max(h.window_end) AS window_end, max(h.value) AS value
  FROM history h JOIN params p {_ON.format(a="h", b="p")}
  GROUP BY h.profile, h.behavior, h.thing_name, h.window_start
),
marked AS (
  SELECT w.*,
         row_number() OVER (PARTITION BY w.profile, w.behavior, w.thing_name ORDER BY w.window_start) AS pos,
         CASE WHEN EXISTS (
           SELECT 1 FROM labels l
           WHERE l.thing_name = w.thing_name AND w.window_start < l.attack_end AND w.window_end > l.attack_start
         ) THEN 1 ELSE 0 END AS excluded
  FROM windows w
),
counted AS (
  SELECT m.*,
         sum(m.excluded) OVER (PARTITION BY m.profile, m.behavior, m.thing_name ORDER BY m.pos {_RUNNING}) AS removed
  FROM marked m
),
normal AS (SELECT * FROM counted WHERE excluded = 0),
peaks AS (
  SELECT profile, behavior, count(*) AS normal_windows, max(value) AS peak,
         {{percentile}}(value, 0.99) AS p99, {{percentile}}(value, 0.999) AS p999
  FROM normal GROUP BY profile, behavior
),
thresholds AS (
  SELECT k.profile, k.behavior, ceil(k.peak * m.multiplier) AS threshold FROM peaks k CROSS JOIN multipliers m
  UNION
  SELECT p.profile, p.behavior, p.current_threshold AS threshold
  FROM params p JOIN peaks k {_ON.format(a="p", b="k")} WHERE p.current_threshold IS NOT NULL
),
violating AS (
  SELECT n.profile, n.behavior, t.threshold, n.thing_name, n.pos, n.window_start, n.removed
  FROM normal n
  JOIN thresholds t {_ON.format(a="n", b="t")}
  JOIN params p {_ON.format(a="n", b="p")}
  WHERE CASE WHEN p.strict THEN n.value * {{headroom}} >= t.threshold ELSE n.value * {{headroom}} > t.threshold END
),
steps AS (
  SELECT v.*,
         lag(v.pos) OVER ({_PARTITION} ORDER BY v.pos) AS prev_pos,
         lag(v.window_start) OVER ({_PARTITION} ORDER BY v.pos) AS prev_start
  FROM violating v
),
flagged AS (
  SELECT s.*,
         CASE WHEN s.prev_pos IS NOT NULL AND s.pos - s.prev_pos = 1
                   AND (NOT p.fill OR s.window_start - s.prev_start = p.duration)
              THEN 0 ELSE 1 END AS new_run
  FROM steps s JOIN params p {_ON.format(a="s", b="p")}
),
numbered AS (
  SELECT f.*, sum(f.new_run) OVER ({_PARTITION} ORDER BY f.pos {_RUNNING}) AS run
  FROM flagged f
),
runs AS (
  SELECT profile, behavior, threshold, thing_name, run, count(*) AS length,
         min(pos) AS first_pos, max(pos) AS last_pos, min(window_start) AS first_start,
         max(window_start) AS last_start, min(removed) AS first_removed, max(removed) AS last_removed
  FROM numbered GROUP BY profile, behavior, threshold, thing_name, run
),
gaps AS (
  SELECT r.*,
         lag(r.last_pos) OVER ({_PARTITION} ORDER BY r.run) AS prev_last_pos,
         lag(r.last_start) OVER ({_PARTITION} ORDER BY r.run) AS prev_last_start,
         lag(r.last_removed) OVER ({_PARTITION} ORDER BY r.run) AS prev_last_removed
  FROM runs r
),
episodes AS (
  SELECT g.*,
         CASE WHEN g.prev_last_pos IS NULL THEN 1
              WHEN g.first_removed <> g.prev_last_removed THEN 1
              WHEN p.fill AND g.first_start - g.prev_last_start < (p.clear_n + 1) * p.duration THEN 0
              WHEN NOT p.fill AND g.first_pos - g.prev_last_pos - 1 < p.clear_n THEN 0
              ELSE 1 END AS new_episode
  FROM gaps g JOIN params p {_ON.format(a="g", b="p")}
),
episode_ids AS (
  SELECT e.*, sum(e.new_episode) OVER ({_PARTITION} ORDER BY e.run {_RUNNING}) AS episode
  FROM episodes e
),
longest AS (
  SELECT profile, behavior, threshold, thing_name, episode, max(length) AS longest
  FROM episode_ids GROUP BY profile, behavior, threshold, thing_name, episode
),
alarms AS (
  SELECT t.profile, t.behavior, t.threshold, c.k, count(l.longest) AS false_alarms
  FROM thresholds t CROSS JOIN ks c
  LEFT JOIN longest l
    ON l.profile = t.profile AND l.behavior = t.behavior AND l.threshold = t.threshold AND l.longest >= c.k
  GROUP BY t.profile, t.behavior, t.threshold, c.k
),
tradeoff AS (
  SELECT a.profile, a.behavior, a.threshold, a.k, a.false_alarms, d.device_days, p.budget,
         CAST(1000 AS DOUBLE) * a.false_alarms / d.device_days AS rate
  FROM alarms a JOIN params p {_ON.format(a="a", b="p")} JOIN days d ON d.profile = a.profile
),
ranked AS (
  SELECT t.*,
         row_number() OVER (
           PARTITION BY t.profile, t.behavior
           ORDER BY CASE WHEN t.rate <= t.budget THEN 0 ELSE 1 END,
                    CASE WHEN t.rate <= t.budget THEN 0 ELSE t.false_alarms END, t.k, t.threshold
         ) AS choice
  FROM tradeoff t
)
SELECT r.profile, r.behavior, r.threshold, r.k AS consecutive, r.false_alarms, r.device_days,
       r.rate AS false_alarms_per_1000_device_days, r.budget, r.rate <= r.budget AS meets,
       r.choice = 1 AS chosen, k.normal_windows, k.peak, k.p99, k.p999
FROM ranked r JOIN peaks k {_ON.format(a="r", b="k")}
ORDER BY r.profile, r.behavior, r.threshold, r.k
"""
