"""Which thing groups a reporting thing is in, looked up in the registry and remembered for a while."""

from __future__ import annotations

import re
from functools import cache

from iot_defender_runtime.adapters.iot_registry import IotRegistry
from iot_defender_runtime.model.detect_profiles import ProfileTargets

_memberships: dict[str, tuple[float, frozenset[str] | None]] = {}


MAX_REMEMBERED_MEMBERSHIPS = 50_000  # about 5 MB: a bound on memory, not on the fleet


@cache
def registry() -> IotRegistry:
    return IotRegistry()


_THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")  # CreateThing's thingName pattern


def membership(thing: str, now: float, max_age: float) -> frozenset[str] | None:
    """The thing's groups (None: not a registered thing), looked up at most once per ``max_age`` seconds.
    A client id that is not a valid thing name cannot be a registered thing, and is not looked up."""
    if not _THING_NAME.fullmatch(thing):
        return None
    cached = _memberships.get(thing)
    if cached is None or now - cached[0] >= max_age:
        if len(_memberships) >= MAX_REMEMBERED_MEMBERSHIPS:
            for name in [name for name, (at, _) in _memberships.items() if now - at >= max_age] or list(_memberships):
                del _memberships[name]
        cached = (now, registry().membership(thing))
        _memberships[thing] = cached
    return cached[1]


def watches(targets: ProfileTargets, thing: str, now: float, max_age: float) -> bool:
    return targets.everything or targets.watches(membership(thing, now, max_age))


def forget() -> None:
    """Forget every remembered membership."""
    _memberships.clear()
