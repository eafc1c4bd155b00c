"""What the runtime knows about a thing before it decides anything, and the rules that leave a thing alone.

Both remediation decisions (``iot_defender_runtime.quarantine.decision`` and
``iot_defender_runtime.audit_remediation.decision``) ask these rules, so that a thing exempt from
one is exempt from the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

EXEMPT_ATTRIBUTE = "quarantine_exempt"
# Certificate statuses as the registry reports them (DescribeCertificate ``status``).
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"


@dataclass(frozen=True)
class ThingFacts:
    """What the registry says about one thing: whether it exists, its attributes, its static groups."""

    name: str
    exists: bool
    attributes: Mapping[str, str] = field(default_factory=dict)
    group_names: tuple[str, ...] = ()

    @property
    def is_exempt(self) -> bool:
        """Attribute ``quarantine_exempt`` set to ``true`` (any case) exempts a thing from every action."""
        return self.attributes.get(EXEMPT_ATTRIBUTE, "").strip().lower() == "true"

    def exemption(self, exempt_groups: Iterable[str]) -> str | None:
        """Why the thing is never acted on, or None when it may be: the attribute first, then the
        first exempt group (by name) it is a member of."""
        if self.is_exempt:
            return f"attribute {EXEMPT_ATTRIBUTE}=true"
        groups = sorted(set(self.group_names) & set(exempt_groups))
        return f"member of exempt group {groups[0]}" if groups else None

    def is_quarantined(self, quarantine_group_name: str) -> bool:
        """Already in the quarantine group: quarantining it again would change nothing."""
        return quarantine_group_name in self.group_names
