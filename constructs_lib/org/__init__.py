"""Pieces for fleets that span accounts and regions, and for the people who run them: the operations
dashboard, the central security view (``CentralSecurityView`` in the security account,
``SecurityViewForwarding`` in each member account) and Security Hub findings."""

from constructs_lib.org.central_security_view import CentralDelivery, CentralSecurityView
from constructs_lib.org.operations_dashboard import OperationsDashboard
from constructs_lib.org.security_hub_findings import SecurityHubFindings
from constructs_lib.org.security_view_forwarding import SecurityViewForwarding, SecurityViewTarget

__all__ = [
    "CentralDelivery",
    "CentralSecurityView",
    "OperationsDashboard",
    "SecurityHubFindings",
    "SecurityViewForwarding",
    "SecurityViewTarget",
]
