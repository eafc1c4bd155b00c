"""`python -m constructs_lib.synth_report <cdk.out>` on any assembly: its JSON read without aws_cdk,
cdk-nag "not checked" when the assembly records no cdk-nag run, a message rather than a traceback
without cfn-lint, and the assembly of another app (stages, a stack named apart from its path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from constructs_lib import acknowledge, apply_nag_packs, synth_report

REPO = Path(__file__).resolve().parents[2]
SYNTH_REPORT = REPO / "constructs_lib" / "synth_report.py"


def _write_assembly(folder: Path, templates: dict[str, dict], files: dict[str, object] | None = None) -> Path:
    """A hand-made assembly: manifest.json naming each stack's template, and other files (JSON or text)."""
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = {
        name: {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{name}.template.json"}}
        for name in templates
    }
    (folder / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    for name, template in templates.items():
        (folder / f"{name}.template.json").write_text(json.dumps(template))
    for file_name, content in (files or {}).items():
        (folder / file_name).write_text(content if isinstance(content, str) else json.dumps(content))
    return folder


TOPIC = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}


@pytest.fixture
def no_cfn_lint(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if cfn-lint were not installed: importing it raises ImportError."""
    for name in [m for m in sys.modules if m == "cfnlint" or m.startswith("cfnlint.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cfnlint", None)
    monkeypatch.setitem(sys.modules, "cfnlint.api", None)


def test_without_cfn_lint_it_says_how_to_install_it_and_lints_nothing(tmp_path, no_cfn_lint, capsys):
    assembly = _write_assembly(tmp_path, {"Shop": TOPIC})
    assert synth_report.main(["synth_report", str(assembly)]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == (
        "cfn-lint is not installed: pip install 'iot-device-defender-constructs[dev]' or pip install cfn-lint; "
        "templates not linted"
    )
    assert "cfn-lint: not run (not installed)" in out
    assert "Traceback" not in out + err
    with pytest.raises(synth_report.CfnLintNotInstalledError):
        synth_report.cfn_lint_findings(assembly / "Shop.template.json")


def test_stack_without_cdk_nag_record_is_not_checked_not_passed(tmp_path, capsys):
    # What cdk-nag 3 leaves for an app without packs (or whose packs found nothing): an empty report.
    report = {"version": "55.0.0", "title": "Validation Report", "pluginReports": []}
    assembly = _write_assembly(tmp_path, {"Shop": TOPIC}, {"validation-report.json": report})
    assert synth_report.main(["synth_report", str(assembly)]) == 0
    out = capsys.readouterr().out
    assert "cdk-nag: not checked" in out
    assert "pass" not in out


def test_acknowledgments_written_by_cdk_nag_or_declared_packs_show_it_ran(tmp_path, capsys):
    acknowledged = {
        "Resources": {
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Metadata": {"cdk_nag": {"rules_to_suppress": [{"id": "AwsSolutions-SNS3", "reason": "test"}]}},
            }
        }
    }
    declared = {**TOPIC, "Metadata": {"cdk_nag": {"packs": ["AwsSolutions", "Serverless"]}}}
    assembly = _write_assembly(tmp_path, {"Acked": acknowledged, "Declared": declared})
    assert synth_report.main(["synth_report", str(assembly)]) == 0
    out = capsys.readouterr().out
    assert "cdk-nag: pass; 1 acknowledged with reasons" in out
    assert "cdk-nag (AwsSolutions, Serverless): pass; 0 acknowledged with reasons" in out


@pytest.mark.parametrize("report_format", ["csv", "json"])
def test_cdk_nag_2_report_files_are_read(tmp_path, capsys, report_format):
    lines = [
        ("AwsSolutions-SNS2", "Shop/Topic/Resource", "Non-Compliant", "Error"),
        ("AwsSolutions-SNS3", "Shop/Topic/Resource", "Suppressed", "Error"),
        ("AwsSolutions-SQS4", "Shop/Queue/Resource", "Non-Compliant", "Warning"),
        ("AwsSolutions-SQS3", "Shop/Queue/Resource", "Compliant", "Error"),
    ]
    header = '"Rule ID","Resource ID","Compliance","Exception Reason","Rule Level","Rule Info"\n'
    if report_format == "csv":
        content: object = header + "".join(f'"{r}","{p}","{c}","N/A","{lvl}","info"\n' for r, p, c, lvl in lines)
        clean: object = header
    else:
        content = {
            "lines": [
                {"ruleId": r, "resourceId": p, "compliance": c, "exceptionReason": "N/A", "ruleLevel": lvl}
                for r, p, c, lvl in lines
            ]
        }
        clean = {"lines": []}
    files = {
        f"AwsSolutions-Shop-NagReport.{report_format}": content,
        # "Other-Shop" ends with "-Shop": its report is not Shop's.
        f"AwsSolutions-Other-Shop-NagReport.{report_format}": clean,
    }
    assembly = _write_assembly(tmp_path, {"Shop": TOPIC, "Other-Shop": TOPIC}, files)
    assert synth_report.main(["synth_report", str(assembly)]) == 1
    out = capsys.readouterr().out
    shop, other = out.split("\nOther-Shop:")
    assert "cdk-nag (AwsSolutions): 1 unacknowledged error, 1 warning" in shop
    assert "AwsSolutions-SNS2 at Shop/Topic/Resource" in shop
    assert "AwsSolutions-SQS4 at Shop/Queue/Resource" in shop
    assert "cdk-nag (AwsSolutions): pass" in other


def test_the_module_reads_an_assembly_without_importing_aws_cdk(tmp_path):
    assembly = _write_assembly(tmp_path, {"Shop": TOPIC})
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('synth_report', {str(SYNTH_REPORT)!r})\n"
        "module = sys.modules['synth_report'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "sys.modules['cfnlint'] = None  # no cfn-lint either: the JSON alone\n"
        f"status = module.main(['synth_report', {str(assembly)!r}])\n"
        "assert 'aws_cdk' not in sys.modules and 'jsii' not in sys.modules, 'aws_cdk imported'\n"
        "sys.exit(status)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Shop: 1 resource" in run.stdout
    assert "cfn-lint is not installed" in run.stderr


def test_folder_without_templates_fails_with_a_message(tmp_path, capsys):
    assert synth_report.main(["synth_report", str(tmp_path)]) == 1
    assert "no stack templates in" in capsys.readouterr().err


@pytest.fixture(scope="module")
def other_app_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another app: a stack in a stage, named apart from its path, with a cdk-nag error, an
    acknowledgment and a top-level stack; synth left to report validation errors, not to raise."""
    outdir = tmp_path_factory.mktemp("other-app")
    app = cdk.App(outdir=str(outdir), context={"@aws-cdk/core:failSynthOnValidationErrors": False})
    stage = cdk.Stage(app, "Prod")
    shop = cdk.Stack(stage, "Api", stack_name="shop-api")
    sns.Topic(shop, "Leaky")  # AwsSolutions-SNS3: no TLS-only policy
    queue = sqs.Queue(shop, "Queue", enforce_ssl=True)
    acknowledge(queue, {"AwsSolutions-SQS3": "test: no dead-letter queue", "Serverless-SQSRedrivePolicy": "test"})
    cdk.CfnWaitConditionHandle(cdk.Stack(app, "Clean"), "Handle")  # nothing for cdk-nag to flag
    apply_nag_packs(app)
    app.synth()
    return outdir


def test_assembly_of_another_app_with_stages_and_nag_errors(other_app_assembly, capsys):
    assert synth_report.main(["synth_report", str(other_app_assembly)]) == 1
    out = capsys.readouterr().out
    assert "\nProd/Api: 3 resources\n" in out
    prod, clean = out.split("\nClean:")
    assert "cdk-nag (AwsSolutions): 1 unacknowledged error;" in prod
    assert "AwsSolutions-SNS3 at Prod/Api/Leaky/Resource" in prod
    assert "cfn-lint: clean" in prod
    # The pack walked the whole app: the stack it found nothing in passed.
    assert "cdk-nag (AwsSolutions, Serverless): pass" in clean  # apply_nag_packs recorded both packs
