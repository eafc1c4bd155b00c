"""Reading audit findings and the resources they name (every page, adaptive retries)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lambdas.shared.aws_clients import client

PAGE_SIZE = 250  # the API's maximum


class AuditFindings:
    def __init__(self, iot: Any | None = None) -> None:
        self._iot = iot or client("iot")

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
