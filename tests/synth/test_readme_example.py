"""The README's usage example is real code: it synthesizes, with the nag packs, as printed."""

from __future__ import annotations

import re
from pathlib import Path

from constructs_lib.synth_report import cfn_lint_findings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_synthesizes_clean(tmp_path):
    [snippet] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    # The jsii process started before this test, so CDK_OUTDIR would not reach it: set outdir in code.
    assert snippet.count("cdk.App()") == 1
    snippet = snippet.replace("cdk.App()", f"cdk.App(outdir={str(tmp_path)!r})")
    exec(compile(snippet, str(README), "exec"), {"__name__": "readme_example"})
    [template] = tmp_path.glob("*.template.json")
    assert cfn_lint_findings(template) == []
    assert "AWS::IoT::SecurityProfile" in template.read_text()
