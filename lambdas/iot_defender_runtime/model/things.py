"""What the runtime knows about a thing before it decides anything, and the rules that leave a thing alone.

Both remediation decisions (``iot_defender_runtime.quarantine.decision`` and
``iot_defender_runtime.audit_remediation.decision``) ask these rules, so that a thing exempt from
one is exempt from the other, and a certificate an exempt thing uses is never changed by either.
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
    """What the registry says about one thing: whether it exists, its attributes, its static groups, and
    the groups it belongs to through them (their ancestors: ``rootToParentThingGroups``; read only when
    exempt groups are configured)."""

    name: str
    exists: bool
    attributes: Mapping[str, str] = field(default_factory=dict)
    group_names: tuple[str, ...] = ()
    inherited_group_names: tuple[str, ...] = ()

    @property
    def is_exempt(self) -> bool:
        """Attribute ``quarantine_exempt`` set to ``true`` (any case) exempts a thing from every action."""
        return self.attributes.get(EXEMPT_ATTRIBUTE, "").strip().lower() == "true"

    def exemption(self, exempt_groups: Iterable[str]) -> str | None:
        """Why the thing is never acted on, or None when it may be: the attribute first, then the
        first exempt group (by name) it is a member of, directly or through a child group."""
        if self.is_exempt:
            return f"attribute {EXEMPT_ATTRIBUTE}=true"
        exempt = set(exempt_groups)
        groups = sorted(set(self.group_names) & exempt)
        if groups:
            return f"member of exempt group {groups[0]}"
        inherited = sorted(set(self.inherited_group_names) & exempt)
        return f"member of exempt group {inherited[0]} through a child group" if inherited else None

    def is_quarantined(self, quarantine_group_name: str) -> bool:
        """Already in the quarantine group: quarantining it again would change nothing."""
        return quarantine_group_name in self.group_names


def certificate_exemption(users: Iterable[ThingFacts], exempt_groups: Iterable[str]) -> str | None:
    """Why a certificate must be left alone, or None: an exempt thing uses it (``ListPrincipalThings``),
    so changing it would touch that thing. The first exempt user, by name, is named."""
    groups = tuple(exempt_groups)
    for thing in sorted(users, key=lambda user: user.name):
        exemption = thing.exists and thing.exemption(groups)
        if exemption:
            return f"used by exempt thing {thing.name} ({exemption})"
    return None
