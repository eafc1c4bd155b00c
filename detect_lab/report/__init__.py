"""The lab's pictures and report: charts (PNG, matplotlib's Agg backend), a Markdown report that
embeds them, and the summary table printed in the terminal."""

from detect_lab.report.markdown import ReportFiles, write_report
from detect_lab.report.model import (
    AlarmSpan,
    AttackSpan,
    BehaviorView,
    LabReport,
    Panel,
    Score,
    Threshold,
    Timeline,
    TradeoffPoint,
)
from detect_lab.report.table import terminal_summary

__all__ = [
    "AlarmSpan",
    "AttackSpan",
    "BehaviorView",
    "LabReport",
    "Panel",
    "ReportFiles",
    "Score",
    "Threshold",
    "Timeline",
    "TradeoffPoint",
    "terminal_summary",
    "write_report",
]
