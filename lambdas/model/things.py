"""What the runtime knows about a thing before it decides anything."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

EXEMPT_ATTRIBUTE = "quarantine_exempt"


@dataclass(frozen=True)
class ThingFacts:
    """What the registry says about the thing named in the violation."""

    name: str
    exists: bool
    attributes: Mapping[str, str] = field(default_factory=dict)
    group_names: tuple[str, ...] = ()

    @property
    def is_exempt(self) -> bool:
        """Attribute ``quarantine_exempt`` set to ``true`` (any case) exempts a thing from every action."""
        return self.attributes.get(EXEMPT_ATTRIBUTE, "").strip().lower() == "true"
