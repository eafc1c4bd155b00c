"""The demo end to end on a small fleet (the full 500 things x 3 days is ``make demo`` and
``bench/lab_replay.py``, not the suite): the report's files, the figures in its table, exit codes."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from detect_lab.cli import main
from detect_lab.demo import DemoSettings, run_demo, summary
from detect_lab.report.table import OVERALL, summary_rows

SMALL = DemoSettings(things=12, days=0.2, attacks_per_kind=1)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    return run_demo(SMALL, tmp_path_factory.mktemp("demo"))


def test_demo_writes_the_report_its_charts_and_the_tuned_behaviors(outcome) -> None:
    out = outcome.files.report.parent
    text = outcome.files.report.read_text()
    assert {p.name for p in out.iterdir()} >= {"report.md", "charts", "tuned_behaviors.py", "tuned_behaviors.json"}
    timelines = sorted(p.name for p in (out / "charts").glob("timeline-*.png"))
    assert timelines == [
        "timeline-1-reference-app-s-behaviors-untuned-evaluation-fleet.png",
        "timeline-2-tuned-behaviors-evaluation-fleet.png",
    ]
    assert (out / "charts" / "distribution-MessageStorm.png").is_file()
    assert (out / "charts" / "tradeoff-MessageStorm.png").is_file()
    for chart in outcome.files.charts:
        assert f"](charts/{chart.name})" in text


def test_demo_table_has_both_sets_figures_per_behavior_and_overall(outcome) -> None:
    rows = summary_rows(outcome.report)
    names = [row[0] for row in rows]
    assert names[:3] == ["MessageStorm", "CredentialMisuse", "ConnectionChurn"]
    assert {"BytesOut", "UnexpectedListeningPorts", "UnexpectedDestinations"} <= set(names)
    assert names[-1] == OVERALL
    overall = rows[-1]
    attacks = 6 * SMALL.attacks_per_kind
    assert re.fullmatch(rf"\d+\.\d % \(\d+/{attacks}\)", overall[1])  # untuned recall over every attack
    assert re.fullmatch(rf"\d+\.\d % \(\d+/{attacks}\)", overall[4])  # tuned recall
    assert outcome.report.untuned.device_days == outcome.report.tuned.device_days == SMALL.things * SMALL.days
    assert outcome.replayed_datapoints > 0 and outcome.replay_datapoints_per_s > 0


def test_demo_command_runs_the_demo_it_is_asked_for_and_prints_the_summary(
    outcome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--things", "12", "--days", "0.2", "--attacks-per-kind", "1", "--out", str(tmp_path / "out")]
    with mock.patch("detect_lab.commands.run_demo", return_value=outcome) as demo:
        assert main(argv) == 0
    assert demo.call_args.args[:2] == (SMALL, tmp_path / "out")
    printed = capsys.readouterr().out
    assert printed == summary(outcome) + "\n"
    assert "untuned (reference app): detected" in printed and "tuned: detected" in printed
    assert f"report: {outcome.files.report}" in printed


def test_demo_command_fails_when_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["demo", "--things", "12", "--days", "0.2", "--out", str(taken)]) == 2
    assert (
        capsys.readouterr().err == f"iot-defender-lab demo: error: --out '{taken}' must be a directory; it is a file\n"
    )


def test_demo_with_learned_behaviors_reports_them_beside_the_tuned_ones(tmp_path: Path) -> None:
    """``--learned``: models trained on a 14-day fleet judge the evaluation fleet; the report shows their
    figures against issue 13's goal, and a week of a model's band."""
    settings = DemoSettings(things=12, days=0.2, attacks_per_kind=1, learned=True, learned_things=8)
    outcome = run_demo(settings, tmp_path / "demo")
    learned = outcome.report.learned
    assert learned is not None and learned.overall.attacks == 6
    assert learned.overall.device_days == settings.things * settings.days
    text = outcome.files.report.read_text()
    assert "## Learned behaviors (ML, no thresholds)" in text
    assert re.search(r"learned \(ML, no thresholds\): detected \d+\.\d % of injected attacks \(\d+/6;", text)
    assert "goal (>= 90 %, <= 2)" in summary(outcome)
    assert learned.band_chart is not None and learned.band_chart.is_file()  # the storm's class's model
    assert "](charts/learned-band.png)" in text
