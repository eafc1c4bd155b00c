"""``finding_key`` on findings no API would send: a key, or a ``ValueError`` that says why, never an
``OverflowError``, ``TypeError`` or ``RecursionError`` (which would fail the audit notification with
no reason of ours)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from iot_defender_runtime.audit_remediation.finding_key import DERIVED_PREFIX, MAX_DEPTH, finding_key

FINDING = {
    "taskId": "task-1",
    "checkName": "DEVICE_CERTIFICATE_SHARED_CHECK",
    "nonCompliantResource": {"resourceType": "DEVICE_CERTIFICATE", "resourceIdentifier": {"deviceCertificateId": "c"}},
    "findingTime": datetime(2024, 5, 1, tzinfo=UTC),
}


@pytest.mark.parametrize(
    "odd",
    [
        {"findingTime": 1e306},  # finite, but not as milliseconds
        {"findingTime": float("nan")},
        {"findingTime": 10**30},
        {"findingTime": True},
        {"nonCompliantResource": {"resourceType": "X", "resourceIdentifier": {"b": b"\x00", "s": {1, 2}}}},
        {"nonCompliantResource": None, "relatedResources": 7},
        {"nonCompliantResource": None, "relatedResources": [{"resourceIdentifier": {"t": datetime(1, 1, 1)}}, 3]},
    ],
)
def test_an_odd_finding_still_gets_a_derived_key(odd):
    key = finding_key({**FINDING, **odd})
    assert key.startswith(DERIVED_PREFIX) and len(key) == 72


def test_a_key_is_the_same_as_before_for_a_finding_the_api_sends():
    assert finding_key(FINDING) == finding_key({**FINDING, "findingTime": 1714521600.0})
    assert finding_key({**FINDING, "findingId": "f-1"}) == "f-1"


def test_identifiers_nested_too_deep_are_a_value_error_with_the_reason():
    nested: dict = {}
    for _ in range(MAX_DEPTH + 5):
        nested = {"a": nested}
    resource = {"resourceType": "X", "resourceIdentifier": nested}
    with pytest.raises(ValueError, match="nested more than 32 levels deep"):
        finding_key({**FINDING, "nonCompliantResource": resource})
