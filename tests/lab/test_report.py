"""The lab's report: the summary table's figures, the Markdown that embeds the charts, the charts as
PNG files. Figures are given (the report computes nothing about Detect), so every expected text is exact."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detect_lab.report import (
    AlarmSpan,
    AttackSpan,
    BehaviorView,
    LabReport,
    Panel,
    Score,
    Threshold,
    Timeline,
    TradeoffPoint,
    terminal_summary,
    write_report,
)
from detect_lab.report.charts import MAX_TIMELINE_ROWS, _timeline_rows, draw_distribution, draw_tradeoff, slug
from detect_lab.report.table import goal_lines, markdown_table, summary_rows, text_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
START = 1_793_577_600.0  # 2026-11-02T00:00Z


def _storm_panel() -> Panel:
    rng = random.Random(3)
    return Panel(
        "sensors",
        normal_values=tuple(rng.lognormvariate(3, 0.4) for _ in range(500)),
        attack_values=tuple(rng.lognormvariate(6, 0.3) for _ in range(20)),
        today=Threshold("> 1000", 1000.0),
        proposed=Threshold("> 80, 2 windows", 80.0),
        tradeoff=tuple(
            TradeoffPoint(float(t), c, 40.0 / (t * c), 4 if t < 200 else 2, 4) for t in (50, 100, 200) for c in (1, 2)
        ),
    )


def _ports_panel() -> Panel:
    return Panel(
        "gateways",
        categories=(("22", 900, 0), ("443", 880, 0), ("4444", 0, 7)),
        proposed=Threshold("in-port-set 22, 443", allowed=("22", "443")),
    )


@pytest.fixture(scope="module")
def report() -> LabReport:
    storm = BehaviorView(
        "message-storm",
        "aws:num-messages-sent",
        untuned=Score(attacks=4, detected=1, false_alarms=3, device_days=1500.0, detect_median=600.0, detect_max=600.0),
        tuned=Score(attacks=4, detected=4, false_alarms=1, device_days=1500.0, detect_median=750.0, detect_max=5400.0),
        panels=(_storm_panel(),),
    )
    ports = BehaviorView(
        "listening-ports",
        "aws:listening-tcp-ports",
        untuned=None,
        tuned=Score(attacks=2, detected=2, false_alarms=0, device_days=1500.0, detect_median=300.0, detect_max=300.0),
        panels=(_ports_panel(),),
    )
    timeline = Timeline(
        "tuned, evaluation seed",
        START,
        START + 86_400,
        alarms=(AlarmSpan("sensor-000001", "message-storm", START + 3600, START + 5400),),
        attacks=(AttackSpan("storm-1", "message-storm", "sensor-000001", START + 3000, START + 6000, True),),
    )
    return LabReport(
        title="Detect lab demo",
        fleet="500 things x 3 days; tuned on seed 1, evaluated on seed 2",
        target=1.0,
        behaviors=(storm, ports),
        untuned=Score(attacks=6, detected=1, false_alarms=3, device_days=1500.0, detect_median=600.0, detect_max=600.0),
        tuned=Score(attacks=6, detected=6, false_alarms=1, device_days=1500.0, detect_median=300.0, detect_max=300.0),
        timelines=(timeline,),
        code="Behavior.rule('message-storm', metric='aws:num-messages-sent')\n",
        api_json='{"sensors": []}',
        timings=(("simulate", 2.5), ("replay", 130.0)),
    )


@pytest.fixture(scope="module")
def written(report: LabReport, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    return out, write_report(report, out)


def test_summary_rows_show_each_behavior_untuned_beside_tuned_then_overall(report: LabReport) -> None:
    assert summary_rows(report) == [
        [
            "message-storm",
            "25.0 % (1/4)",
            "2.00 (3)",
            "10 min (10 min)",
            "100.0 % (4/4)",
            "0.67 (1)",
            "12 min (90 min)",
        ],
        ["listening-ports", "-", "-", "-", "100.0 % (2/2)", "0.00 (0)", "5 min (5 min)"],
        ["all behaviors", "16.7 % (1/6)", "2.00 (3)", "10 min (10 min)", "100.0 % (6/6)", "0.67 (1)", "5 min (5 min)"],
    ]


def test_goal_lines_say_whether_each_set_meets_the_issue_goal(report: LabReport) -> None:
    assert goal_lines(report) == [
        "untuned (reference app): detected 16.7 % of injected attacks (1/6), 2.00 false alarms per 1,000 "
        "device-days: goal (>= 95 %, <= 1) not met",
        "tuned: detected 100.0 % of injected attacks (6/6), 0.67 false alarms per 1,000 device-days: "
        "goal (>= 95 %, <= 1) met",
    ]


def test_terminal_summary_holds_the_table_and_the_goal(report: LabReport) -> None:
    text = terminal_summary(report)
    assert text.splitlines()[0] == "Detect lab demo"
    assert text_table(summary_rows(report)) in text
    assert all(line in text for line in goal_lines(report))


def test_score_without_attacks_or_device_days_has_no_recall_and_no_rate() -> None:
    score = Score(attacks=0, detected=0, false_alarms=0, device_days=0.0)
    assert score.recall is None
    assert score.false_alarms_per_1000_device_days == 0.0


def test_report_embeds_every_chart_it_drew_and_the_charts_are_png(written) -> None:
    out, files = written
    text = files.report.read_text()
    assert files.report == out / "report.md"
    assert {p.name for p in files.charts} == {
        "timeline-1-tuned-evaluation-seed.png",
        "distribution-message-storm.png",
        "tradeoff-message-storm.png",
        "distribution-listening-ports.png",
    }
    for chart in files.charts:
        assert chart.read_bytes()[:8] == PNG_MAGIC
        assert f"]({chart.relative_to(out).as_posix()})" in text


def test_report_holds_the_summary_thresholds_code_and_timings(written, report: LabReport) -> None:
    out, files = written
    text = files.report.read_text()
    assert markdown_table(summary_rows(report)) in text
    assert "- `sensors`: today > 1000; proposed > 80, 2 windows" in text
    assert "- `gateways`: today not configured; proposed in-port-set 22, 443" in text
    assert "Behavior.rule('message-storm', metric='aws:num-messages-sent')" in text
    assert "- replay: 130 min" not in text and "- replay: 2 min" in text
    assert (out / "tuned_behaviors.py").read_text() == report.code
    assert (out / "tuned_behaviors.json").read_text() == report.api_json + "\n"


def test_no_chart_for_a_behavior_without_values_or_candidates(tmp_path: Path) -> None:
    empty = BehaviorView("quiet", "aws:num-disconnects", untuned=None, tuned=None, panels=(Panel("all"),))
    assert draw_distribution(empty, tmp_path / "d.png") is None
    assert draw_tradeoff(empty, 1.0, tmp_path / "t.png") is None
    assert list(tmp_path.iterdir()) == []


def test_timeline_draws_attacked_things_first_and_counts_those_left_out() -> None:
    alarms = tuple(AlarmSpan(f"sensor-{i:06d}", "storm", START, START + 60) for i in range(MAX_TIMELINE_ROWS + 5))
    attacks = (AttackSpan("a", "message-storm", "camera-000009", START, START + 900, False),)
    rows, hidden = _timeline_rows(Timeline("t", START, START + 3600, alarms, attacks))
    assert rows[0] == "camera-000009"
    assert len(rows) == MAX_TIMELINE_ROWS
    assert hidden == 6


def test_slug_keeps_names_file_safe() -> None:
    assert slug("aws:num-messages-sent") == "aws-num-messages-sent"
    assert slug("tuned, evaluation seed") == "tuned-evaluation-seed"
    assert slug("::") == "behavior"


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


@given(st.lists(st.lists(_cell, min_size=3, max_size=3), min_size=1, max_size=6))
def test_tables_keep_one_line_per_row_and_every_column_whatever_the_cells(rows: list[list[str]]) -> None:
    header = ["a", "b", "c"]
    markdown = markdown_table(rows, header).split("\n")
    assert len(markdown) == len(rows) + 2
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 4 for line in markdown[2:])
    assert len(text_table(rows, header).split("\n")) == len(rows) + 2 + (1 if len(rows) > 1 else 0)


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.floats(0, 1e7, allow_nan=False),
)
def test_score_figures_stay_in_range(attacks: int, extra: int, false_alarms: int, device_days: float) -> None:
    detected = min(extra, attacks)
    score = Score(attacks, detected, false_alarms, device_days)
    assert score.recall is None or 0.0 <= score.recall <= 1.0
    assert score.false_alarms_per_1000_device_days >= 0.0
