"""Device Defender audit checks: the names ``UpdateAccountAuditConfiguration`` and
``ListAuditFindings`` accept, what each looks for, named sets, and the older names that audit
notifications may still carry. Plain data: the constructs and the audit remediator share it.
"""

from __future__ import annotations

from enum import Enum


class AuditCheck(str, Enum):
    AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE = "AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK"
    CA_CERTIFICATE_EXPIRING = "CA_CERTIFICATE_EXPIRING_CHECK"
    CA_CERTIFICATE_KEY_QUALITY = "CA_CERTIFICATE_KEY_QUALITY_CHECK"
    CONFLICTING_CLIENT_IDS = "CONFLICTING_CLIENT_IDS_CHECK"
    DEVICE_CERTIFICATE_AGE = "DEVICE_CERTIFICATE_AGE_CHECK"
    DEVICE_CERTIFICATE_EXPIRING = "DEVICE_CERTIFICATE_EXPIRING_CHECK"
    DEVICE_CERTIFICATE_KEY_QUALITY = "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK"
    DEVICE_CERTIFICATE_SHARED = "DEVICE_CERTIFICATE_SHARED_CHECK"
    INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES = (
        "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK"
    )
    IOT_POLICY_OVERLY_PERMISSIVE = "IOT_POLICY_OVERLY_PERMISSIVE_CHECK"
    IOT_POLICY_POTENTIAL_MIS_CONFIGURATION = "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK"
    IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES = "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK"
    IOT_ROLE_ALIAS_OVERLY_PERMISSIVE = "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK"
    LOGGING_DISABLED = "LOGGING_DISABLED_CHECK"
    REVOKED_CA_CERTIFICATE_STILL_ACTIVE = "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK"
    REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE = "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"
    UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE = "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK"

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]

    @property
    def cfn_property(self) -> str:
        """The keyword of ``CfnAccountAuditConfiguration.AuditCheckConfigurationsProperty`` for this check."""
        return _CFN_PROPERTY.get(self, self.value.lower())


DESCRIPTIONS: dict[AuditCheck, str] = {
    AuditCheck.AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE: (
        "Authenticated Cognito identities get overly broad IoT access."
    ),
    AuditCheck.CA_CERTIFICATE_EXPIRING: "A CA certificate expires within 30 days or has expired.",
    AuditCheck.CA_CERTIFICATE_KEY_QUALITY: "A CA certificate uses a weak key (algorithm or size).",
    AuditCheck.CONFLICTING_CLIENT_IDS: "Several devices connect with the same client id.",
    AuditCheck.DEVICE_CERTIFICATE_AGE: "A device certificate is older than the configured age threshold.",
    AuditCheck.DEVICE_CERTIFICATE_EXPIRING: "A device certificate expires within 30 days or has expired.",
    AuditCheck.DEVICE_CERTIFICATE_KEY_QUALITY: "A device certificate uses a weak key (algorithm or size).",
    AuditCheck.DEVICE_CERTIFICATE_SHARED: "Several devices connect with the same certificate.",
    AuditCheck.INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES: (
        "Active device certificates chain to an intermediate CA that has been revoked."
    ),
    AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE: "An IoT policy grants broad permissions (wildcards across devices).",
    AuditCheck.IOT_POLICY_POTENTIAL_MIS_CONFIGURATION: (
        "An IoT policy may be misconfigured (for example MQTT wildcards in Deny statements)."
    ),
    AuditCheck.IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES: (
        "A role alias grants access to AWS services the devices did not use recently."
    ),
    AuditCheck.IOT_ROLE_ALIAS_OVERLY_PERMISSIVE: "A role alias's role grants broad AWS permissions.",
    AuditCheck.LOGGING_DISABLED: "AWS IoT logs are not sent to CloudWatch.",
    AuditCheck.REVOKED_CA_CERTIFICATE_STILL_ACTIVE: "A revoked CA certificate is still active.",
    AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE: "A revoked device certificate is still active.",
    AuditCheck.UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE: (
        "Unauthenticated Cognito identities get overly broad IoT access."
    ),
}

# Where the CloudFormation property name does not follow the API name.
_CFN_PROPERTY = {AuditCheck.IOT_POLICY_POTENTIAL_MIS_CONFIGURATION: "io_t_policy_potential_mis_configuration_check"}

# Older names still seen in audit notifications (developer guide's payload example).
LEGACY_CHECK_NAMES: dict[str, AuditCheck] = {
    "DEVICE_CERT_APPROACHING_EXPIRATION_CHECK": AuditCheck.DEVICE_CERTIFICATE_EXPIRING,
    "REVOKED_DEVICE_CERT_CHECK": AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE,
    "CA_CERT_APPROACHING_EXPIRATION_CHECK": AuditCheck.CA_CERTIFICATE_EXPIRING,
    "REVOKED_CA_CERT_CHECK": AuditCheck.REVOKED_CA_CERTIFICATE_STILL_ACTIVE,
    "IOT_POLICY_UNRESTRICTED_CHECK": AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE,
    "UNAUTHENTICATED_COGNITO_IDENTITY_UNRESTRICTED_ACCESS_CHECK": (
        AuditCheck.UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE
    ),
    "AUTHENTICATED_COGNITO_IDENTITY_UNRESTRICTED_ACCESS_CHECK": AuditCheck.AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE,
}


def check_from_name(name: str) -> AuditCheck | None:
    """The check a notification names, by its current or its older name; None when unknown."""
    try:
        return AuditCheck(name)
    except ValueError:
        return LEGACY_CHECK_NAMES.get(name)


ALL_AUDIT_CHECKS: tuple[AuditCheck, ...] = tuple(AuditCheck)
CERTIFICATE_CHECKS: tuple[AuditCheck, ...] = (
    AuditCheck.CA_CERTIFICATE_EXPIRING,
    AuditCheck.CA_CERTIFICATE_KEY_QUALITY,
    AuditCheck.DEVICE_CERTIFICATE_AGE,
    AuditCheck.DEVICE_CERTIFICATE_EXPIRING,
    AuditCheck.DEVICE_CERTIFICATE_KEY_QUALITY,
    AuditCheck.DEVICE_CERTIFICATE_SHARED,
    AuditCheck.INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES,
    AuditCheck.REVOKED_CA_CERTIFICATE_STILL_ACTIVE,
    AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE,
)
POLICY_CHECKS: tuple[AuditCheck, ...] = (
    AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE,
    AuditCheck.IOT_POLICY_POTENTIAL_MIS_CONFIGURATION,
    AuditCheck.IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES,
    AuditCheck.IOT_ROLE_ALIAS_OVERLY_PERMISSIVE,
)
IDENTITY_CHECKS: tuple[AuditCheck, ...] = (
    AuditCheck.AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE,
    AuditCheck.UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE,
    AuditCheck.CONFLICTING_CLIENT_IDS,
    AuditCheck.DEVICE_CERTIFICATE_SHARED,
)
LOGGING_CHECKS: tuple[AuditCheck, ...] = (AuditCheck.LOGGING_DISABLED,)


def checks_markdown() -> str:
    """The README's check table, generated so that it cannot drift."""
    sets = {
        "certificates": CERTIFICATE_CHECKS,
        "policies": POLICY_CHECKS,
        "identities": IDENTITY_CHECKS,
        "logging": LOGGING_CHECKS,
    }
    lines = ["| check | what it finds | in sets |", "|---|---|---|"]
    for check in AuditCheck:
        member_of = ", ".join(name for name, members in sets.items() if check in members)
        lines.append(f"| `{check.value}` | {check.description} | {member_of} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(checks_markdown())
