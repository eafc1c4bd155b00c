"""Logical ids of existing resources stay the same (a changed one replaces a resource on deploy)."""

from __future__ import annotations

import json

from tests.synth.logical_ids import FIXTURE, logical_ids


def test_logical_ids_of_every_stack_are_unchanged():
    # Given the logical ids recorded before the layers were split, When every stack of app.py (each
    # Detect mode) and of the examples is synthesized now, Then each stack has exactly the same ids and types.
    before = json.loads(FIXTURE.read_text())
    now = logical_ids()
    assert sorted(now) == sorted(before)
    for stack, resources in before.items():
        assert now[stack] == resources, stack
