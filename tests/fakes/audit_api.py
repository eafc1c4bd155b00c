"""A small, faithful fake of ``ListAuditFindings`` for moto, which implements no audit API.

Request and response shapes follow the botocore ``iot`` model: POST /audit/findings with
``taskId``, ``checkName``, ``maxResults`` (1-250) and ``nextToken``; the response has ``findings``
and, while more remain, ``nextToken``. Installed on moto's ``IoTResponse`` (the documented way to
add a missing operation), so the code under test calls it through boto3 as it would call AWS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


class FakeAuditFindings:
    def __init__(self) -> None:
        self.findings: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def add(
        self,
        *,
        task_id: str,
        check_name: str,
        finding_id: str,
        certificate_id: str | None = None,
        policy: tuple[str, str] | None = None,
        reason: str = "non-compliant",
    ) -> dict[str, Any]:
        identifier: dict[str, Any] = {}
        if certificate_id:
            identifier["deviceCertificateId"] = certificate_id
        if policy:
            identifier["policyVersionIdentifier"] = {"policyName": policy[0], "policyVersionId": policy[1]}
        finding = {
            "findingId": finding_id,
            "taskId": task_id,
            "checkName": check_name,
            "taskStartTime": 1_700_000_000,
            "findingTime": 1_700_000_100,
            "severity": "CRITICAL",
            "nonCompliantResource": {
                "resourceType": "IOT_POLICY" if policy else "DEVICE_CERTIFICATE",
                "resourceIdentifier": identifier,
            },
            "reasonForNonCompliance": reason,
            "reasonForNonComplianceCode": "CODE",
            "isSuppressed": False,
        }
        self.findings.append(finding)
        return finding

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.iot.responses import IoTResponse

        fake = self

        def list_audit_findings(response: IoTResponse) -> str:
            request = json.loads(response.body or "{}")
            fake.calls.append(request)
            size = int(request.get("maxResults", 25))
            if not 1 <= size <= 250:
                raise ValueError(f"maxResults {size} out of range")
            matching = [
                f
                for f in fake.findings
                if f["taskId"] == request.get("taskId") and f["checkName"] == request.get("checkName")
            ]
            start = int(request.get("nextToken") or 0)
            page: dict[str, Any] = {"findings": matching[start : start + size]}
            if start + size < len(matching):
                page["nextToken"] = str(start + size)
            return json.dumps(page)

        monkeypatch.setattr(IoTResponse, "list_audit_findings", list_audit_findings, raising=False)
