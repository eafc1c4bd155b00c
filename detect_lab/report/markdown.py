"""The lab's report directory: ``report.md`` embedding the charts, the charts under ``charts/``, and the
tuned behaviors as code (``tuned_behaviors.py``) and API JSON (``tuned_behaviors.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detect_lab.report.charts import draw_distribution, draw_timeline, draw_tradeoff, slug
from detect_lab.report.model import BehaviorView, LabReport, LearnedView, Panel
from detect_lab.report.table import LEGEND, duration_text, goal_lines, learned_line, markdown_table, summary_rows

REPORT_FILE, CODE_FILE, API_FILE, CHARTS_DIR = "report.md", "tuned_behaviors.py", "tuned_behaviors.json", "charts"


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote."""

    report: Path
    charts: tuple[Path, ...]
    code: Path | None
    api_json: Path | None


def write_report(report: LabReport, out: Path) -> ReportFiles:
    """Draw every chart and write the report into ``out`` (created if missing; files are replaced)."""
    charts_dir = out / CHARTS_DIR
    charts_dir.mkdir(parents=True, exist_ok=True)
    timelines = [
        draw_timeline(t, charts_dir / f"timeline-{i + 1}-{slug(t.title)}.png") for i, t in enumerate(report.timelines)
    ]
    per_behavior: dict[str, tuple[Path | None, Path | None]] = {}
    for view in report.behaviors:
        distribution = draw_distribution(view, charts_dir / f"distribution-{slug(view.name)}.png")
        tradeoff = draw_tradeoff(view, report.target, charts_dir / f"tradeoff-{slug(view.name)}.png")
        per_behavior[view.name] = (distribution, tradeoff)
    code = _write_text(out / CODE_FILE, report.code)
    api_json = _write_text(out / API_FILE, report.api_json)
    text = render_markdown(report, timelines, per_behavior, out)
    (out / REPORT_FILE).write_text(text, encoding="utf-8")
    drawn = [*timelines, *(path for pair in per_behavior.values() for path in pair if path is not None)]
    return ReportFiles(out / REPORT_FILE, tuple(drawn), code, api_json)


def _write_text(path: Path, text: str) -> Path | None:
    if not text:
        return None
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


def render_markdown(
    report: LabReport,
    timelines: list[Path],
    per_behavior: dict[str, tuple[Path | None, Path | None]],
    out: Path,
) -> str:
    """The report's Markdown; chart paths are written relative to ``out`` so the directory can move."""
    lines = [f"# {report.title}", "", report.fleet, "", "## Summary", ""]
    lines += [markdown_table(summary_rows(report)), ""]
    lines += [LEGEND, ""]
    lines += [f"- {line}" for line in goal_lines(report)]
    if report.learned is not None:
        lines += ["", *_learned_section(report.learned, out)]
    lines += ["", "## Alarm timelines", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in timelines] or ["No run was replayed."]
    for view in report.behaviors:
        lines += ["", *_behavior_section(view, per_behavior.get(view.name, (None, None)), out)]
    lines += ["", "## Tuned behaviors", ""]
    if report.code:
        lines += [f"As `Behavior.rule(...)` code (`{CODE_FILE}`):", "", "```python", report.code.rstrip(), "```", ""]
    if report.api_json:
        lines += [f"As CreateSecurityProfile `behaviors` JSON per profile: [`{API_FILE}`]({API_FILE}).", ""]
    if report.timings:
        lines += ["## Timings", "", *[f"- {step}: {duration_text(seconds)}" for step, seconds in report.timings]]
    return "\n".join(lines).rstrip() + "\n"


def _learned_section(learned: LearnedView, out: Path) -> list[str]:
    """Learned behaviors beside the tuned ones: the same evaluation fleet, no threshold given."""
    lines = ["## Learned behaviors (ML, no thresholds)", "", f"Models trained on {learned.trained_on}.", ""]
    lines += [f"- {learned_line(learned)}"]
    if learned.band_chart is not None:
        chart = learned.band_chart
        shown = chart.relative_to(out).as_posix() if chart.is_relative_to(out) else chart.as_posix()
        lines += ["", f"![learned band]({shown})"]
    return lines


def _behavior_section(view: BehaviorView, charts: tuple[Path | None, Path | None], out: Path) -> list[str]:
    lines = [f"## {view.name}", "", f"Metric `{view.metric}`.", ""]
    thresholds = [_threshold_line(panel) for panel in view.panels]
    lines += [line for line in thresholds if line]
    for chart in charts:
        if chart is not None:
            lines += ["", f"![{chart.stem}]({chart.relative_to(out).as_posix()})"]
    return lines


def _threshold_line(panel: Panel) -> str:
    today = panel.today.label if panel.today is not None else "not configured"
    proposed = panel.proposed.label if panel.proposed is not None else "no proposal"
    return f"- `{panel.profile}`: today {today}; proposed {proposed}"
