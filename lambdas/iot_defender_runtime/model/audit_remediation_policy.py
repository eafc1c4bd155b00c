"""What the audit remediator does per non-compliant check. Plain data, validated; no I/O.

JSON (``AUDIT_REMEDIATION_POLICY``)::

    {"version": 1, "checks": {"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK": ["deactivate-certificate", "notify"],
                              "DEVICE_CERTIFICATE_SHARED_CHECK": ["quarantine-things", "notify"]},
     "exemptGroups": ["lab-devices"]}

A check the policy does not name is notified only. ``deactivate-certificate`` and
``quarantine-things`` act on the finding's device certificate (and the things attached to it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from iot_defender_runtime.model.audit_checks import AuditCheck
from iot_defender_runtime.model.remediation_policy import PolicyError, coerce, envelope_problems, load_policy_json

POLICY_VERSION = 1
_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")


class AuditAction(str, Enum):
    NOTIFY = "notify"
    DEACTIVATE_CERTIFICATE = "deactivate-certificate"
    QUARANTINE_THINGS = "quarantine-things"


# Actions that need a device certificate in the finding.
CERTIFICATE_ACTIONS = frozenset({AuditAction.DEACTIVATE_CERTIFICATE, AuditAction.QUARANTINE_THINGS})
CERTIFICATE_FINDING_CHECKS = frozenset(
    {
        AuditCheck.DEVICE_CERTIFICATE_AGE,
        AuditCheck.DEVICE_CERTIFICATE_EXPIRING,
        AuditCheck.DEVICE_CERTIFICATE_KEY_QUALITY,
        AuditCheck.DEVICE_CERTIFICATE_SHARED,
        AuditCheck.INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES,
        AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE,
    }
)


@dataclass(frozen=True)
class AuditRemediationPolicy:
    checks: Mapping[AuditCheck, tuple[AuditAction, ...]]
    exempt_groups: tuple[str, ...] = field(default=())

    @staticmethod
    def default() -> AuditRemediationPolicy:
        """The documented default (README, "Audit as code"): revoked-but-active certificates are
        deactivated, things sharing a certificate are quarantined, every other non-compliant check
        is notified."""
        return AuditRemediationPolicy(
            {
                AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE: (
                    AuditAction.DEACTIVATE_CERTIFICATE,
                    AuditAction.NOTIFY,
                ),
                AuditCheck.DEVICE_CERTIFICATE_SHARED: (AuditAction.QUARANTINE_THINGS, AuditAction.NOTIFY),
            }
        )

    def actions_for(self, check: AuditCheck) -> tuple[AuditAction, ...]:
        return tuple(self.checks.get(check, (AuditAction.NOTIFY,)))

    @property
    def actions(self) -> frozenset[AuditAction]:
        return frozenset(action for actions in self.checks.values() for action in actions) | {AuditAction.NOTIFY}

    def problems(self) -> list[str]:
        found: list[str] = []
        for check, actions in self.checks.items():
            if not isinstance(check, AuditCheck):
                found.append(f"checks key {check!r} is not an audit check name")
                continue
            where = f"checks.{check.value}"
            if not actions:
                found.append(f"{where} is empty; give at least one of {_allowed()}")
            for index, action in enumerate(actions):
                if not isinstance(action, AuditAction):
                    found.append(f"{where}[{index}] {action!r} is not one of {_allowed()}")
                elif action in CERTIFICATE_ACTIONS and check not in CERTIFICATE_FINDING_CHECKS:
                    found.append(
                        f"{where}[{index}] '{action.value}' needs a check whose findings name a device certificate"
                    )
        for index, group in enumerate(self.exempt_groups):
            if not isinstance(group, str) or not _NAME.match(group):
                found.append(f"exemptGroups[{index}] {group!r} is not a thing group name ([a-zA-Z0-9:_-], 1-128)")
        return found

    def validate(self) -> AuditRemediationPolicy:
        found = self.problems()
        if found:
            raise PolicyError(found)
        return self

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": POLICY_VERSION,
            "checks": {check.value: [a.value for a in actions] for check, actions in self.checks.items()},
        }
        if self.exempt_groups:
            document["exemptGroups"] = list(self.exempt_groups)
        return document

    def to_json(self) -> str:
        return json.dumps(self.validate().to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, document: Any) -> AuditRemediationPolicy:
        found = envelope_problems(document, "checks")
        checks_document = document.get("checks", {})
        if not isinstance(checks_document, Mapping):
            found.append(f"checks must be an object, got {type(checks_document).__name__}")
            checks_document = {}
        checks: dict[Any, tuple[Any, ...]] = {}
        for name, actions in checks_document.items():
            check = coerce(AuditCheck, name)
            if not isinstance(actions, list):
                found.append(f"checks.{name} must be a list, got {type(actions).__name__}")
                continue
            checks[check] = tuple(coerce(AuditAction, action) for action in actions)
        exempt = document.get("exemptGroups", [])
        if not isinstance(exempt, list):
            found.append(f"exemptGroups must be a list, got {type(exempt).__name__}")
            exempt = []
        policy = cls(checks, tuple(exempt))
        found.extend(policy.problems())
        if found:
            raise PolicyError(found)
        return policy

    @classmethod
    def from_json(cls, text: str) -> AuditRemediationPolicy:
        return cls.from_dict(load_policy_json(text))


def _allowed() -> str:
    return ", ".join(a.value for a in AuditAction)


def policy_of(
    checks: Mapping[AuditCheck | str, Sequence[AuditAction | str]], exempt_groups: Sequence[str] = ()
) -> AuditRemediationPolicy:
    """Build a policy from typed or plain check and action names (what CDK users write)."""
    return AuditRemediationPolicy(
        {
            coerce(AuditCheck, check): tuple(coerce(AuditAction, action) for action in actions)
            for check, actions in checks.items()
        },
        tuple(exempt_groups),
    )
