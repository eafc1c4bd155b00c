"""Replay: the evaluator's own batch and sweep code over a simulated fleet, or its engine over the
window history, with in-memory adapters, in accelerated time.

    result = replay_fleet(simulate(spec), untuned_profiles(["sensor", "gateway", "camera"]))
    result.alarms(), result.violations, result.history.rows(), result.datapoints_per_s
    result = replay_history("history/", profiles)           # Parquet files of the window history
"""

from detect_lab.replay.fleet import replay_fleet
from detect_lab.replay.from_history import replay_history
from detect_lab.replay.history import HistoryError, Windows, read_history, write_history
from detect_lab.replay.result import Alarm, ReplayResult, SetObservations, alarms_of

__all__ = [
    "Alarm",
    "HistoryError",
    "ReplayResult",
    "SetObservations",
    "Windows",
    "alarms_of",
    "read_history",
    "replay_fleet",
    "replay_history",
    "write_history",
]
