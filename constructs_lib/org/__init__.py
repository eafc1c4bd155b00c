"""Pieces for fleets that span accounts and regions, and for the people who run them.

``OperationsDashboard`` is re-exported here; the central security view and Security Hub modules of
this package are imported by their full module path.
"""

from constructs_lib.org.operations_dashboard import OperationsDashboard

__all__ = ["OperationsDashboard"]
