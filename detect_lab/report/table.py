"""The summary table, per behavior and overall, untuned beside tuned: as plain text for the terminal
and as a Markdown table for the report. Both come from the same rows, so they never disagree."""

from __future__ import annotations

from collections.abc import Sequence

from detect_lab.report.model import LabReport, LearnedView, Score

COLUMNS = (
    "Behavior",
    "Untuned recall",
    "Untuned FA/1k dd",
    "Untuned TTD",
    "Tuned recall",
    "Tuned FA/1k dd",
    "Tuned TTD",
)
"""Recall = detected / injected attacks; FA/1k dd = false alarms per 1,000 device-days; TTD = time to
detect, median (max)."""
LEGEND = (
    "Recall: detected / injected attacks on a metric the behavior watches (overall: all attacks); FA/1k dd: "
    "false alarms per 1,000 device-days (count); TTD: time to detect, median (max)."
)
MISSING = "-"
OVERALL = "all behaviors"
RECALL_GOAL, FALSE_ALARM_GOAL = 0.95, 1.0  # issue 12, "Done when"
LEARNED_RECALL_GOAL, LEARNED_FALSE_ALARM_GOAL = 0.90, 2.0  # issue 13: learned behaviors, no thresholds


def recall_text(score: Score | None) -> str:
    if score is None or score.recall is None:
        return MISSING
    return f"{score.recall * 100:.1f} % ({score.detected}/{score.attacks})"


def false_alarm_text(score: Score | None) -> str:
    if score is None:
        return MISSING
    return f"{score.false_alarms_per_1000_device_days:.2f} ({score.false_alarms})"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def detect_time_text(score: Score | None) -> str:
    if score is None or score.detect_median is None:
        return MISSING
    return f"{duration_text(score.detect_median)} ({duration_text(score.detect_max)})"


def score_cells(score: Score | None) -> list[str]:
    return [recall_text(score), false_alarm_text(score), detect_time_text(score)]


def summary_rows(report: LabReport) -> list[list[str]]:
    """One row per behavior, then the overall row."""
    rows = [[view.name, *score_cells(view.untuned), *score_cells(view.tuned)] for view in report.behaviors]
    rows.append([OVERALL, *score_cells(report.untuned), *score_cells(report.tuned)])
    return rows


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS, *, total_row: bool = True) -> str:
    """Columns padded to their widest cell, a rule under the header and (``total_row``) above the last row."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [line(row) for row in rows]
    if total_row and len(body) > 1:
        body.insert(len(body) - 1, rule)
    return "\n".join([line(header), rule, *body])


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS) -> str:
    """A GitHub Markdown table; the overall row in bold."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    body = [line(row) for row in rows[:-1]]
    if rows:
        body.append(line([f"**{cell}**" if cell != MISSING else cell for cell in rows[-1]]))
    return "\n".join([line(header), "|" + "---|" * len(header), *body])


def goal_lines(report: LabReport) -> list[str]:
    """The issue's goal, checked on the evaluation fleet for both behavior sets."""
    lines = []
    for name, score in (("untuned (reference app)", report.untuned), ("tuned", report.tuned)):
        recall = score.recall or 0.0
        rate = score.false_alarms_per_1000_device_days
        met = recall >= RECALL_GOAL and rate <= FALSE_ALARM_GOAL
        lines.append(
            f"{name}: detected {recall * 100:.1f} % of injected attacks ({score.detected}/{score.attacks}), "
            f"{rate:.2f} false alarms per 1,000 device-days: goal (>= {RECALL_GOAL * 100:.0f} %, "
            f"<= {FALSE_ALARM_GOAL:g}) {'met' if met else 'not met'}"
        )
    if report.learned is not None:
        lines.append(learned_line(report.learned))
    return lines


def learned_line(learned: LearnedView) -> str:
    score = learned.overall
    recall, rate = score.recall or 0.0, score.false_alarms_per_1000_device_days
    met = recall >= LEARNED_RECALL_GOAL and rate <= LEARNED_FALSE_ALARM_GOAL
    seen = "-" if learned.learnable_recall is None else f"{learned.learnable_recall * 100:.1f} %"
    return (
        f"learned (ML, no thresholds): detected {recall * 100:.1f} % of injected attacks ({score.detected}/"
        f"{score.attacks}; {seen} of those in a metric ML Detect supports), {rate:.2f} false alarms per 1,000 "
        f"device-days: goal (>= {LEARNED_RECALL_GOAL * 100:.0f} %, <= {LEARNED_FALSE_ALARM_GOAL:g}) "
        f"{'met' if met else 'not met'}"
    )


def terminal_summary(report: LabReport) -> str:
    """What ``iot-defender-lab demo`` prints at the end."""
    return "\n".join(
        [
            report.title,
            report.fleet,
            "",
            text_table(summary_rows(report)),
            "",
            LEGEND,
            *goal_lines(report),
        ]
    )
