"""The idempotency key of an audit finding: its ``findingId``, or, when the finding has none, a key
derived from what identifies it.

``findingId`` is optional in the API (botocore ``iot`` model, shape ``AuditFinding``: no member is
required), and the AWS CLI documentation's own ``list-audit-findings`` example output has none. A
finding without it is identified by:

- the audit task id (``taskId``, else the task of the notification being handled),
- the check name (``checkName``, else the check being listed),
- the non-compliant resource: ``resourceType`` and every ``resourceIdentifier`` field (device
  certificate id, policy name and version, client id, ...); when the finding names no non-compliant
  resource, the type and identifiers of its related resources, in any order,
- the finding time (``findingTime``, to the millisecond, epoch seconds or a ``datetime``): a task
  finds a resource non-compliant once per check, so this only separates findings that would otherwise
  look alike, and it is the same each time the same finding is listed again.

Other fields (severity, reasons, suppression, ``additionalInfo``) are left out, so an operator
suppressing a finding between two deliveries does not make it a new one. The derived key is
``derived-`` and the SHA-256 of that identity as canonical JSON (sorted keys), 72 characters that
match the API's own ``findingId`` pattern (``[a-zA-Z0-9_-]+``, at most 128). A finding with a
``findingId`` keeps it as its key, so its idempotency records are the ones written before.

Any finding gets a key or a ``ValueError`` that says why not: a finding time too large to be
milliseconds is kept as its text (not an ``OverflowError``), a value JSON cannot write is written
as its text (not a ``TypeError``), and identifiers nested more than ``MAX_DEPTH`` levels deep are
refused (not a ``RecursionError``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

DERIVED_PREFIX = "derived-"
MAX_DEPTH = 32  # a resource identifier is a flat object of strings; deeper is no finding


def finding_key(finding: Mapping[str, Any], *, task_id: str | None = None, check_name: str | None = None) -> str:
    """``findingId`` when the finding has one, else the key derived from its identity (module docstring)."""
    finding_id = finding.get("findingId")
    if isinstance(finding_id, str) and finding_id:
        return finding_id
    described = identity(finding, task_id=task_id, check_name=check_name)
    canonical = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return DERIVED_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def identity(
    finding: Mapping[str, Any], *, task_id: str | None = None, check_name: str | None = None
) -> dict[str, Any]:
    """What identifies a finding without ``findingId``: task, check, non-compliant resource, finding time."""
    resource = finding.get("nonCompliantResource")
    related: list[Any] = []
    entries = finding.get("relatedResources")
    if not resource and isinstance(entries, list | tuple):
        related = sorted(
            (_resource(entry) for entry in entries if isinstance(entry, Mapping)),
            key=lambda entry: json.dumps(entry, sort_keys=True, default=str),
        )
    return {
        "taskId": finding.get("taskId") or task_id,
        "checkName": finding.get("checkName") or check_name,
        "nonCompliantResource": _resource(resource) if isinstance(resource, Mapping) else None,
        "relatedResources": related,
        "findingTimeMs": _milliseconds(finding.get("findingTime")),
    }


def _resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": resource.get("resourceType"),
        "resourceIdentifier": _plain(resource.get("resourceIdentifier") or {}),
    }


def _plain(value: Any, depth: int = 1) -> Any:
    """JSON-ready, with the same text however the value was delivered (dict order, datetime or number)."""
    if isinstance(value, Mapping | list | tuple) and depth > MAX_DEPTH:
        raise ValueError(f"the finding's resource identifier is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return _milliseconds(value)
    return value


def _milliseconds(value: Any) -> int | str | None:
    """Epoch milliseconds of a ``datetime`` (boto3) or of epoch seconds (JSON); other values as text."""
    if isinstance(value, datetime):
        try:
            return round(value.timestamp() * 1000)
        except (OverflowError, OSError, ValueError):  # a naive time the platform cannot place
            return value.isoformat()
    if isinstance(value, int):
        return value * 1000 if not isinstance(value, bool) else str(value)
    if isinstance(value, float) and math.isfinite(value * 1000):
        return round(value * 1000)
    return None if value is None else str(value)
