"""A fleet split into parts (for replays side by side): each thing is in exactly one part, with the
very records it has in the whole fleet, and its attacks."""

from __future__ import annotations

import base64
import gzip
import json
from collections import defaultdict

import pytest

from detect_lab.simulator import AttackPlan, FleetSpec, simulate

SPEC = FleetSpec(things=12, days=0.25, seed=5, attacks=AttackPlan(per_kind=1))


def _bodies_by_thing(fleet) -> dict[str, list[str]]:
    """Each thing's own records (not the shared AWS IoT log records), as their data, in order."""
    found = defaultdict(list)
    for record in fleet.records():
        key = record["kinesis"]["partitionKey"]
        if not key.startswith("iot-broker-"):
            found[key].append(base64.b64decode(record["kinesis"]["data"]))
    return found


def _log_entries(fleet) -> list[str]:
    entries = []
    for record in fleet.records():
        if record["kinesis"]["partitionKey"].startswith("iot-broker-"):
            document = json.loads(gzip.decompress(base64.b64decode(record["kinesis"]["data"])))
            entries.extend(event["message"] for event in document["logEvents"])
    return sorted(entries)


def test_parts_split_the_things_and_keep_each_things_records_and_attacks() -> None:
    whole = simulate(SPEC)
    parts = [whole.part_of(index, 3) for index in range(3)]
    assert sorted(t.name for p in parts for t in p.things) == sorted(t.name for t in whole.things)
    assert sorted(label.attack_id for p in parts for label in p.labels) == sorted(
        label.attack_id for label in whole.labels
    )
    assert sum(p.device_days for p in parts) == pytest.approx(whole.device_days)
    expected = _bodies_by_thing(whole)
    for part in parts:
        got = _bodies_by_thing(part)
        assert set(got) <= {t.name for t in part.things}
        assert all(got[thing] == expected[thing] for thing in got)
    entries = _log_entries(whole)
    assert entries and sorted(e for p in parts for e in _log_entries(p)) == entries


def test_a_part_must_be_of_a_whole_fleet_and_in_range() -> None:
    with pytest.raises(ValueError, match=r"part \(3, 3\) must be"):
        simulate(SPEC).part_of(3, 3)
    with pytest.raises(ValueError, match="already part"):
        simulate(SPEC).part_of(0, 2).part_of(0, 2)
