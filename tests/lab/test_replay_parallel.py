"""A fleet replayed in parts side by side gives the whole fleet's alarms and windows."""

from __future__ import annotations

import pytest

from detect_lab.behaviors import starter_profiles
from detect_lab.replay import replay_fleet
from detect_lab.replay.parallel import replay_in_parts
from detect_lab.simulator import DEVICE_CLASSES, AttackPlan, FleetSpec, simulate

SPEC = FleetSpec(things=16, days=0.5, seed=3, attacks=AttackPlan(per_kind=1))


def _alarms(result) -> list[tuple[str, str, str, float]]:
    return sorted((a.profile, a.behavior, a.thing, a.start) for a in result.alarms())


def test_parts_replayed_side_by_side_give_the_whole_fleets_alarms_and_windows() -> None:
    profiles = starter_profiles([c.name for c in DEVICE_CLASSES])
    whole = replay_fleet(simulate(SPEC), profiles)
    split = replay_in_parts(SPEC, profiles, parts=2)
    assert whole.alarms() and _alarms(split) == _alarms(whole)
    assert sorted(map(repr, split.history.rows())) == sorted(map(repr, whole.history.rows()))
    assert (split.device_days, split.things) == (whole.device_days, whole.things)
    assert split.counts["late"] == whole.counts["late"] == 0  # the lab's stream never judges a window early


@pytest.mark.parametrize("parts", [0, 65, 1.5, True])
def test_parts_out_of_range_are_refused_by_name(parts) -> None:
    with pytest.raises(ValueError, match=f"parts {parts!r} must be an integer from 1 to 64"):
        replay_in_parts(SPEC, starter_profiles(["sensor"]), parts=parts)
