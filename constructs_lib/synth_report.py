"""Summarize a synthesized cloud assembly: per stack, resource counts, cdk-nag and cfn-lint outcome.

    python -m constructs_lib.synth_report cdk.out

Exit status 1 when any stack has a cfn-lint finding or an unacknowledged cdk-nag error. cfn-lint
is a development dependency (``pip install iot-device-defender-constructs[dev]``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# aws-cdk-lib adds a DependsOn on a function's role next to the GetAtt of that role (and does so
# in its own custom-resource framework); cfn-lint flags the redundancy as W3005. It is harmless and
# outside this library's control, so it is the one rule skipped.
IGNORED_CFN_LINT_RULES = ("W3005",)
LINT_REGIONS = ("us-east-1", "eu-west-1")


@dataclass(frozen=True)
class StackReport:
    stack: str
    resource_counts: Counter[str]
    acknowledged_nag_findings: int
    nag_violations: tuple[str, ...]
    lint_findings: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.nag_violations and not self.lint_findings


def cfn_lint_findings(template_path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file  # development dependency, imported on use

    matches = lint_file(
        template_path,
        config=ManualArgs(regions=list(LINT_REGIONS), ignore_checks=list(IGNORED_CFN_LINT_RULES)),
    )
    return [f"{m.rule.id} {m.message} ({template_path.name}:{m.linenumber})" for m in matches]


def _nag_violations(assembly: Path, stack: str) -> list[str]:
    report_path = assembly / "validation-report.json"
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text())
    found = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                if construct.get("constructPath", "").split("/")[0] == stack:
                    found.append(f"{violation['ruleName']} at {construct['constructPath']}")
    return found


def stack_report(assembly: Path, template_path: Path) -> StackReport:
    template = json.loads(template_path.read_text())
    resources = template.get("Resources", {})
    acknowledged = sum(
        len(resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []))
        for resource in resources.values()
    )
    stack = template_path.name.removesuffix(".template.json")
    return StackReport(
        stack=stack,
        resource_counts=Counter(resource["Type"] for resource in resources.values()),
        acknowledged_nag_findings=acknowledged,
        nag_violations=tuple(_nag_violations(assembly, stack)),
        lint_findings=tuple(cfn_lint_findings(template_path)),
    )


def main(argv: list[str]) -> int:
    assembly = Path(argv[1] if len(argv) > 1 else "cdk.out")
    templates = sorted(assembly.glob("*.template.json"))
    if not templates:
        print(f"no templates in {assembly}; run the synth first", file=sys.stderr)
        return 1
    failed = False
    for template_path in templates:
        report = stack_report(assembly, template_path)
        failed |= not report.passed
        total = sum(report.resource_counts.values())
        print(f"\n{report.stack}: {total} resources")
        for resource_type, count in sorted(report.resource_counts.items()):
            print(f"  {count:3d}  {resource_type}")
        nag = "pass" if not report.nag_violations else f"{len(report.nag_violations)} unacknowledged"
        print(
            f"  cdk-nag (AwsSolutions, Serverless): {nag}; "
            f"{report.acknowledged_nag_findings} acknowledged with reasons (template Metadata cdk_nag)"
        )
        for violation in report.nag_violations:
            print(f"    {violation}")
        lint = "clean" if not report.lint_findings else f"{len(report.lint_findings)} findings"
        print(f"  cfn-lint: {lint}")
        for finding in report.lint_findings:
            print(f"    {finding}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
