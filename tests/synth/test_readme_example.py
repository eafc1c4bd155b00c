"""The README's Python examples are real code: each runs as printed, and the app example synthesizes clean."""

from __future__ import annotations

import re
from pathlib import Path

from constructs_lib import RemediationPolicy
from constructs_lib.synth_report import cfn_lint_findings

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_app_example_synthesizes_clean(tmp_path):
    [snippet] = [s for s in SNIPPETS if "app.synth()" in s]
    # The jsii process started before this test, so CDK_OUTDIR would not reach it: set outdir in code.
    snippet = snippet.replace("cdk.App()", f"cdk.App(outdir={str(tmp_path)!r})")
    exec(compile(snippet, str(README), "exec"), {"__name__": "readme_example"})
    [template] = tmp_path.glob("*.template.json")
    assert cfn_lint_findings(template) == []
    assert "AWS::IoT::SecurityProfile" in template.read_text()


def test_readme_policy_example_builds_a_valid_policy():
    [snippet] = [s for s in SNIPPETS if "RemediationPolicy(" in s]
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(README), "exec"), namespace)
    policy = namespace["policy"]
    assert isinstance(policy, RemediationPolicy)
    assert policy.validate().exempt_groups == ("lab-devices",)


def test_readme_json_policy_is_valid():
    [document] = [
        block for block in re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.DOTALL) if '"rules"' in block
    ]
    assert [rule.name for rule in RemediationPolicy.from_json(document).rules] == [
        "contain-high",
        "quarantine",
        "release-on-clear",
    ]


def test_readme_detect_example_runs_as_printed():
    [snippet] = [s for s in SNIPPETS if "Behavior.statistical(" in s]
    exec(compile(snippet, str(README), "exec"), {"__name__": "readme_detect"})


def test_readme_metric_catalog_is_generated_from_the_code():
    from iot_defender_runtime.model.metric_catalog import catalog_markdown

    text = README.read_text()
    table = text.split("<!-- metric-catalog:start -->\n", 1)[1].split("\n<!-- metric-catalog:end -->", 1)[0]
    assert table == catalog_markdown(), "regenerate it: python -m iot_defender_runtime.model.metric_catalog"


def test_readme_audit_check_table_is_generated_from_the_code():
    from iot_defender_runtime.model.audit_checks import checks_markdown

    text = README.read_text()
    table = text.split("<!-- audit-checks:start -->\n", 1)[1].split("\n<!-- audit-checks:end -->", 1)[0]
    assert table == checks_markdown(), "regenerate it: python -m iot_defender_runtime.model.audit_checks"


def test_readme_audit_policy_json_is_valid():
    from iot_defender_runtime.model.audit_remediation_policy import AuditRemediationPolicy

    [document] = [b for b in re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.DOTALL) if '"checks"' in b]
    assert AuditRemediationPolicy.from_json(document).to_dict() == {
        **AuditRemediationPolicy.default().to_dict(),
        "exemptGroups": ["lab-devices"],
    }


def test_readme_self_hosted_metric_table_is_generated_from_the_code():
    from iot_defender_runtime.model.self_hosted_metrics import support_markdown

    text = README.read_text()
    table = text.split("<!-- self-hosted-metrics:start -->\n", 1)[1].split("\n<!-- self-hosted-metrics:end -->", 1)[0]
    assert table == support_markdown(), "regenerate it: python -m iot_defender_runtime.model.self_hosted_metrics"
