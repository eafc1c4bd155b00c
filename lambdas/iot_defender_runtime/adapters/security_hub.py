"""Security Hub: importing this account's own findings (``BatchImportFindings``, up to 100 per call).

A call succeeds even when some findings are refused: the response lists them in ``FailedFindings``
with an error code (API reference, BatchImportFindings,
https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html), so a refused
finding is raised here as an error, and its record is retried and then dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iot_defender_runtime.adapters.aws_clients import client

MAX_FINDINGS_PER_CALL = 100


class FindingsRefusedError(RuntimeError):
    """Security Hub refused findings; the message names each with its error code and message."""


class SecurityHubFindings:
    def __init__(self, securityhub: Any | None = None) -> None:
        self._securityhub = securityhub or client("securityhub")

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        """Create or update ``findings`` (same ``Id`` and ``ProductArn``: an update); returns how many
        Security Hub took, or raises ``FindingsRefusedError`` naming those it refused."""
        imported = 0
        for start in range(0, len(findings), MAX_FINDINGS_PER_CALL):
            response = self._securityhub.batch_import_findings(
                Findings=list(findings[start : start + MAX_FINDINGS_PER_CALL])
            )
            failed = response.get("FailedFindings") or []
            if failed:
                raise FindingsRefusedError(
                    "; ".join(
                        f"{item.get('Id')}: {item.get('ErrorCode')} {item.get('ErrorMessage')}" for item in failed
                    )
                )
            imported += int(response.get("SuccessCount", 0))
        return imported
