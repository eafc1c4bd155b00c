"""Learned behaviors in the Detect lab: models trained on a simulated fleet's 14 days of windows (the
evaluator's own code, then the trainer's statistics), an evaluation fleet replayed with them, and the
storm injected there detected by the learned behavior alone (no threshold given); a fleet too small
for the guide's minimum gets PENDING_BUILD models that judge nothing."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from detect_lab.behaviors import class_profiles
from detect_lab.learned import (
    MemoryModels,
    learned_behaviors,
    learned_profiles,
    models_from_windows,
    replay_with_models,
    train_models,
)
from detect_lab.scoring import score_replay
from detect_lab.simulator import DEVICE_CLASSES, AttackKind, AttackLabel, AttackPlan, FleetSpec, simulate
from iot_defender_runtime.model.learned_model import DAY, SLOTS

CLASSES = [c.name for c in DEVICE_CLASSES]
TESTED = ("aws:num-messages-sent", "aws:all-bytes-out")  # two behaviors keep the 14-day replay short
PROFILES = class_profiles({c: [b for b in learned_behaviors() if b.metric in TESTED] for c in CLASSES})


@pytest.fixture(scope="module")
def trained() -> MemoryModels:
    logging.disable(logging.WARNING)  # "not judged: no model yet" while the training fleet replays
    try:
        models, _ = train_models(simulate(FleetSpec(things=9, days=14, seed=11)), PROFILES)
    finally:
        logging.disable(logging.NOTSET)
    return models


def test_models_of_the_busy_metrics_are_built_from_14_days(trained):
    statuses = Counter((key.split("#")[2], model.status) for key, model in trained.models.items())
    assert statuses[("learned-num-messages-sent", "ACTIVE")] >= 1
    assert statuses[("learned-all-bytes-out", "ACTIVE")] >= 1
    for model in trained.models.values():
        assert model.status in ("ACTIVE", "PENDING_BUILD")
        assert len(model.bands) == (SLOTS if model.status == "ACTIVE" else 0)
    assert max(trained.item_bytes().values()) < 4096


def test_the_injected_storm_is_detected_by_the_learned_behavior(trained):
    fleet = simulate(FleetSpec(things=9, days=0.5, seed=12))
    thing = next(t.name for t in fleet.things if t.name.startswith("sensor"))
    start = fleet.spec.start + 3 * 3600
    storm = AttackLabel.of(AttackKind.MESSAGE_STORM, thing, start, start + 3600)
    fleet = simulate(FleetSpec(things=9, days=0.5, seed=12, attacks=AttackPlan.of(storm)))
    score = score_replay(replay_with_models(fleet, PROFILES, trained), fleet.labels)
    [detection] = score.detections
    assert detection.detected_by == ("learned-num-messages-sent",)


def test_fails_when_the_fleet_is_too_small_pending_build_and_nothing_judged():
    profiles = learned_profiles(["sensor"])
    start = 1_793_577_600.0
    rows = [("sensor", "learned-num-messages-sent", "sensor-000001", start + i * 300, 3.0) for i in range(14 * 288)]
    models = models_from_windows(rows, profiles, start + 14 * DAY)
    model = models.models["learned#sensor#learned-num-messages-sent"]
    assert model.status == "PENDING_BUILD" and model.datapoints == 4032
    assert model.upper("HIGH", start, start + 14 * DAY) is None
