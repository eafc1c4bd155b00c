"""Summarize a synthesized cloud assembly: per stack, resource counts, cdk-nag and cfn-lint outcome.

    python -m constructs_lib.synth_report cdk.out

Works on the assembly of any CDK app: it reads the assembly's JSON files (``manifest.json``, nested
assemblies of stages included, each stack's template, ``validation-report.json`` and cdk-nag's
report files); this module imports only the standard library (and cfn-lint, on use), never aws_cdk.

cdk-nag outcome of a stack, from what the assembly records:

- violations of a cdk-nag pack: in ``validation-report.json`` (cdk-nag 3, packs registered with
  ``Validations.of(app).add_plugins``, as ``apply_nag_packs`` does) or in the pack's report file
  ``<Pack>-<stack name>-NagReport.csv`` / ``.json`` (cdk-nag 2, packs applied as Aspects);
- "pass" when the stack has none and the assembly shows that cdk-nag ran over it: a cdk-nag 3 pack
  in ``validation-report.json`` (it checks every stack of the app), a cdk-nag 2 report file of the
  stack, acknowledgments cdk-nag wrote into the template's resource Metadata (``cdk_nag``), or
  template Metadata ``{"cdk_nag": {"packs": [...]}}``;
- "not checked" otherwise: cdk-nag 3 records nothing for a pack that passed, so a stack with no
  violation and no acknowledgment is reported as not checked rather than as passing.

cfn-lint is a development dependency (``pip install 'iot-device-defender-constructs[dev]'``);
without it the report says so and lints nothing.

Exit status 1 when any stack has a cfn-lint finding or an unacknowledged cdk-nag error, or when the
folder holds no stack template.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# aws-cdk-lib adds a DependsOn on a function's role next to the GetAtt of that role (and does so
# in its own custom-resource framework); cfn-lint flags the redundancy as W3005. It is harmless and
# outside this library's control, so it is the one rule skipped.
IGNORED_CFN_LINT_RULES = ("W3005",)
LINT_REGIONS = ("us-east-1", "eu-west-1")
CFN_LINT_MISSING = (
    "cfn-lint is not installed: pip install 'iot-device-defender-constructs[dev]' or pip install cfn-lint; "
    "templates not linted"
)
VALIDATION_REPORT = "validation-report.json"
# aws-cdk-lib's own template validation plugin: its findings are not cdk-nag's.
CDK_BUILTIN_PLUGINS = frozenset({"CloudFormation Validate"})
NAG_METADATA_KEY = "cdk_nag"
NAG_REPORT_SUFFIX = "-NagReport"
# cdk-nag 2's CSV report columns, by the JSON report's field names.
CSV_COLUMNS = {"Rule ID": "ruleId", "Resource ID": "resourceId", "Compliance": "compliance", "Rule Level": "ruleLevel"}


class CfnLintNotInstalledError(RuntimeError):
    """cfn-lint cannot be imported."""


@dataclass(frozen=True)
class AssemblyStack:
    """A stack artifact of the assembly: its construct path (what violations name) and its template."""

    display_name: str
    construct_path: str
    stack_name: str
    template_path: Path
    assembly: Path


@dataclass(frozen=True)
class NagOutcome:
    checked: bool
    packs: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackReport:
    stack: str
    resource_counts: Counter[str]
    acknowledged_nag_findings: int
    nag: NagOutcome
    lint_findings: tuple[str, ...] | None  # None: not linted (cfn-lint missing)

    @property
    def passed(self) -> bool:
        return not self.nag.errors and not self.lint_findings


def _cfn_lint_api() -> tuple[Any, Any]:
    try:
        from cfnlint.api import ManualArgs, lint_file  # development dependency, imported on use
    except ImportError as error:
        raise CfnLintNotInstalledError(CFN_LINT_MISSING) from error
    return ManualArgs, lint_file


def cfn_lint_installed() -> bool:
    try:
        _cfn_lint_api()
    except CfnLintNotInstalledError:
        return False
    return True


def cfn_lint_findings(template_path: Path) -> list[str]:
    """cfn-lint findings of one template; raises ``CfnLintNotInstalledError`` without cfn-lint."""
    manual_args, lint_file = _cfn_lint_api()
    matches = lint_file(
        template_path,
        config=manual_args(regions=list(LINT_REGIONS), ignore_checks=list(IGNORED_CFN_LINT_RULES)),
    )
    return [f"{m.rule.id} {m.message} ({template_path.name}:{m.linenumber})" for m in matches]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def assembly_stacks(assembly: Path) -> list[AssemblyStack]:
    """The stacks of an assembly, in manifest order, with those of nested assemblies (stages)."""
    manifest_path = assembly / "manifest.json"
    if not manifest_path.exists():  # a folder of templates only
        return [
            AssemblyStack(name, name, name, path, assembly)
            for path in sorted(assembly.glob("*.template.json"))
            if not path.name.endswith(".nested.template.json")
            for name in [path.name.removesuffix(".template.json")]
        ]
    stacks: list[AssemblyStack] = []
    for artifact_id, artifact in _read_json(manifest_path).get("artifacts", {}).items():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack" and "templateFile" in properties:
            display_name = artifact.get("displayName", artifact_id)
            stack_name = properties.get("stackName", artifact_id)
            # The manifest shows "path (stackName)" when a stack's name differs from its path.
            construct_path = display_name.removesuffix(f" ({stack_name})")
            template = assembly / properties["templateFile"]
            stacks.append(AssemblyStack(display_name, construct_path, stack_name, template, assembly))
        elif artifact.get("type") == "cdk:cloud-assembly" and "directoryName" in properties:
            stacks.extend(assembly_stacks(assembly / properties["directoryName"]))
    return stacks


def _in_stack(construct_path: str, stack: AssemblyStack) -> bool:
    path = construct_path.lstrip("/")
    return path == stack.construct_path or path.startswith(f"{stack.construct_path}/")


def _nag_plugin_reports(folder: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(pack, violations) of each cdk-nag plugin in a validation report: a plugin whose rule names
    all start with its name and a dash, as cdk-nag names them (``AwsSolutions-SNS3``)."""
    path = folder / VALIDATION_REPORT
    if not path.exists():
        return
    for plugin in _read_json(path).get("pluginReports", []):
        name = plugin.get("pluginName") or plugin.get("summary", {}).get("pluginName", "")
        violations = plugin.get("violations", [])
        if (
            name
            and name not in CDK_BUILTIN_PLUGINS
            and violations
            and all(str(v.get("ruleName", "")).startswith(f"{name}-") for v in violations)
        ):
            yield name, violations


def _nag_report_files(folder: Path, stack_name: str) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """(pack, lines) of each cdk-nag 2 report file of the stack, lines as in the JSON format."""
    for path in sorted(folder.glob(f"*-{stack_name}{NAG_REPORT_SUFFIX}.*")):
        pack = path.name.removesuffix(path.suffix).removesuffix(f"-{stack_name}{NAG_REPORT_SUFFIX}")
        if "-" in pack:  # another stack whose name ends with this one's
            continue
        if path.suffix == ".json":
            yield pack, list(_read_json(path).get("lines", []))
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as rows:
                yield pack, [{CSV_COLUMNS.get(k, k): v for k, v in row.items()} for row in csv.DictReader(rows)]


def nag_outcome(root: Path, stack: AssemblyStack, template: dict[str, Any]) -> NagOutcome:
    packs: set[str] = set()
    errors: list[str] = []
    warnings: list[str] = []
    folders = [root] if stack.assembly == root else [root, stack.assembly]
    for folder in folders:
        for pack, violations in _nag_plugin_reports(folder):
            packs.add(pack)  # a cdk-nag 3 pack checks the whole app, whichever stage it is added to
            for violation in violations:
                constructs = violation.get("violatingConstructs") or violation.get("violatingResources") or []
                for construct in constructs:
                    path = str(construct.get("constructPath") or "")
                    if not _in_stack(path, stack):
                        continue
                    finding = f"{violation.get('ruleName')} at {path}"
                    (warnings if violation.get("severity") == "warning" else errors).append(finding)
        for pack, lines in _nag_report_files(folder, stack.stack_name):
            packs.add(pack)
            for line in lines:
                if line.get("compliance") == "Non-Compliant":
                    finding = f"{line.get('ruleId')} at {line.get('resourceId')}"
                    (warnings if line.get("ruleLevel") == "Warning" else errors).append(finding)
    declared = template.get("Metadata", {}).get(NAG_METADATA_KEY, {})
    if isinstance(declared, dict):
        packs.update(str(pack) for pack in declared.get("packs", []))
    checked = bool(packs) or _acknowledged(template) > 0
    return NagOutcome(checked, tuple(sorted(packs)), tuple(errors), tuple(warnings))


def _acknowledged(template: dict[str, Any]) -> int:
    return sum(
        len(resource.get("Metadata", {}).get(NAG_METADATA_KEY, {}).get("rules_to_suppress", []))
        for resource in template.get("Resources", {}).values()
    )


def stack_report(root: Path, stack: AssemblyStack, *, lint: bool = True) -> StackReport:
    template = _read_json(stack.template_path)
    resources = template.get("Resources", {})
    return StackReport(
        stack=stack.display_name,
        resource_counts=Counter(resource.get("Type", "?") for resource in resources.values()),
        acknowledged_nag_findings=_acknowledged(template),
        nag=nag_outcome(root, stack, template),
        lint_findings=tuple(cfn_lint_findings(stack.template_path)) if lint else None,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def nag_line(report: StackReport) -> str:
    nag = report.nag
    packs = f" ({', '.join(nag.packs)})" if nag.packs else ""
    if not nag.checked:
        return "cdk-nag: not checked (the assembly holds no cdk-nag report, violation or acknowledgment for this stack)"
    if nag.errors or nag.warnings:
        parts = [f"{_plural(len(nag.errors), 'unacknowledged error')}"] if nag.errors else []
        parts += [_plural(len(nag.warnings), "warning")] if nag.warnings else []
        outcome = ", ".join(parts)
    else:
        outcome = "pass"
    return (
        f"cdk-nag{packs}: {outcome}; "
        f"{report.acknowledged_nag_findings} acknowledged with reasons (template Metadata cdk_nag)"
    )


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "cdk.out")
    stacks = [stack for stack in assembly_stacks(root) if stack.template_path.exists()]
    if not stacks:
        print(f"no stack templates in {root}; run the synth first", file=sys.stderr)
        return 1
    lint = cfn_lint_installed()
    if not lint:
        print(CFN_LINT_MISSING, file=sys.stderr)
    failed = False
    for stack in stacks:
        report = stack_report(root, stack, lint=lint)
        failed |= not report.passed
        total = sum(report.resource_counts.values())
        print(f"\n{report.stack}: {_plural(total, 'resource')}")
        for resource_type, count in sorted(report.resource_counts.items()):
            print(f"  {count:3d}  {resource_type}")
        print(f"  {nag_line(report)}")
        for violation in (*report.nag.errors, *report.nag.warnings):
            print(f"    {violation}")
        if report.lint_findings is None:
            print("  cfn-lint: not run (not installed)")
            continue
        print(f"  cfn-lint: {'clean' if not report.lint_findings else _plural(len(report.lint_findings), 'finding')}")
        for finding in report.lint_findings:
            print(f"    {finding}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
