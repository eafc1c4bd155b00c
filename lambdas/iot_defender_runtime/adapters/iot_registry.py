"""Every IoT registry, certificate and audit-finding call the runtime makes (retries: see ``aws_clients``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iot_defender_runtime.model.things import ThingFacts

CERTIFICATE_ARN_MARKER = ":cert/"
PAGE_SIZE = 250  # the API's maximum
# A group's parent is fixed when it is created, but a group may be deleted and made again elsewhere:
# its ancestry is read again after this many seconds.
ANCESTRY_TTL_SECONDS = 300.0


@dataclass(frozen=True)
class Certificate:
    certificate_id: str
    arn: str
    status: str


def _iot_client() -> Any:
    """The shared IoT client, imported here so that boto3 is not imported with a handler (cold start)."""
    from iot_defender_runtime.adapters.aws_clients import client

    return client("iot")


class IotRegistry:
    def __init__(self, iot: Any | None = None) -> None:
        self._iot = iot or _iot_client()
        self._ancestor_cache: dict[str, tuple[float, tuple[str, ...]]] = {}

    def thing_facts(self, thing_name: str, *, ancestry: bool = False) -> ThingFacts:
        """Attributes and static group memberships of a thing; ``exists=False`` when it is unknown. With
        ``ancestry`` also the groups it is in through a child group (``DescribeThingGroup`` of each of its
        groups, cached for ``ANCESTRY_TTL_SECONDS``): what exempt groups need."""
        try:
            described = self._iot.describe_thing(thingName=thing_name)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return ThingFacts(name=thing_name, exists=False)
            raise
        groups = tuple(self._group_names(thing_name))
        inherited = {a for g in groups for a in self._ancestors(g)} - set(groups) if ancestry else set()
        return ThingFacts(
            name=thing_name,
            exists=True,
            attributes=dict(described.get("attributes") or {}),
            group_names=groups,
            inherited_group_names=tuple(sorted(inherited)),
        )

    def membership(self, thing_name: str) -> frozenset[str] | None:
        """Every thing group the thing is in, directly or through a child group; None when the client id
        is not a registered thing."""
        try:
            direct = self._group_names(thing_name)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        groups = set(direct)
        for name in direct:
            groups.update(self._ancestors(name))
        return frozenset(groups)

    def _ancestors(self, group_name: str) -> tuple[str, ...]:
        cached = self._ancestor_cache.get(group_name)
        if cached is not None and time.monotonic() - cached[0] < ANCESTRY_TTL_SECONDS:
            return cached[1]
        metadata = self._iot.describe_thing_group(thingGroupName=group_name).get("thingGroupMetadata") or {}
        ancestors = tuple(group["groupName"] for group in metadata.get("rootToParentThingGroups") or [])
        self._ancestor_cache[group_name] = (time.monotonic(), ancestors)
        return ancestors

    def groups_of(self, thing_name: str) -> tuple[str, ...]:
        """The thing's static groups now (``ListThingGroupsForThing``)."""
        return tuple(self._group_names(thing_name))

    def _group_names(self, thing_name: str) -> list[str]:
        names: list[str] = []
        paginator = self._iot.get_paginator("list_thing_groups_for_thing")
        for page in paginator.paginate(thingName=thing_name):
            names.extend(group["groupName"] for group in page.get("thingGroups", []))
        return names

    def add_thing_to_group(self, thing_name: str, group_name: str) -> None:
        self._iot.add_thing_to_thing_group(thingName=thing_name, thingGroupName=group_name)

    def remove_thing_from_group(self, thing_name: str, group_name: str) -> None:
        self._iot.remove_thing_from_thing_group(thingName=thing_name, thingGroupName=group_name)

    def certificates_of(self, thing_name: str) -> dict[str, str]:
        """Certificate id -> status (ACTIVE, INACTIVE, REVOKED, ...) of every certificate attached to the thing.
        Other principals (Cognito identities) are not certificates and are skipped."""
        return {c.certificate_id: c.status for c in self.certificates(thing_name)}

    def certificates(self, thing_name: str) -> list[Certificate]:
        """Every certificate attached to the thing (``ListThingPrincipals``, one ``DescribeCertificate`` each)."""
        found: list[Certificate] = []
        paginator = self._iot.get_paginator("list_thing_principals")
        for page in paginator.paginate(thingName=thing_name):
            for principal in page.get("principals", []):
                if CERTIFICATE_ARN_MARKER in principal:
                    found.append(self.certificate(principal.rsplit("/", 1)[1]))
        return found

    def certificate(self, certificate_id: str) -> Certificate:
        described = self._iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
        return Certificate(certificate_id, described["certificateArn"], described["status"])

    def certificates_status(self, certificate_id: str) -> str:
        return self.certificate(certificate_id).status

    def things_of(self, certificate_arn: str) -> list[str]:
        """The things a certificate is attached to (``ListPrincipalThings``)."""
        names: list[str] = []
        paginator = self._iot.get_paginator("list_principal_things")
        for page in paginator.paginate(principal=certificate_arn):
            names.extend(page.get("things", []))
        return names

    def set_certificate_status(self, certificate_id: str, status: str) -> None:
        self._iot.update_certificate(certificateId=certificate_id, newStatus=status)


class AuditFindings:
    def __init__(self, iot: Any | None = None) -> None:
        self._iot = iot or _iot_client()

    def non_compliant(self, task_id: str, check_name: str) -> Iterator[dict[str, Any]]:
        """Every finding of one check in one audit task, page after page."""
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"taskId": task_id, "checkName": check_name, "maxResults": PAGE_SIZE}
            if token:
                arguments["nextToken"] = token
            page = self._iot.list_audit_findings(**arguments)
            yield from page.get("findings", [])
            token = page.get("nextToken")
            if not token:
                return

    def policy_statements(self, policy_name: str, policy_version_id: str) -> list[dict[str, Any]]:
        """The statements of the policy version a finding names (to show operators what is at fault)."""
        version = self._iot.get_policy_version(policyName=policy_name, policyVersionId=policy_version_id)
        document = json.loads(version["policyDocument"])
        statements = document.get("Statement", [])
        return statements if isinstance(statements, list) else [statements]

    def certificate_arn(self, certificate_id: str) -> str:
        return self._iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["certificateArn"]

    def things_of(self, certificate_arn: str) -> list[str]:
        names: list[str] = []
        paginator = self._iot.get_paginator("list_principal_things")
        for page in paginator.paginate(principal=certificate_arn):
            names.extend(page.get("things", []))
        return names
