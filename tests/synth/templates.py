"""Every template the synth tests read: app.py's stages (and each Detect mode with the compliance
packs) and the examples, from the session fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Template = dict[str, Any]


def every_template(reference_assembly, compliance_assemblies, example_assemblies) -> Iterator[tuple[str, Template]]:
    for stack in reference_assembly.stacks:
        yield f"app.py/{stack.stack_name}", stack.template
    for mode, assembly in compliance_assemblies.items():
        for stack in assembly.stacks:
            yield f"app.py[detect={mode},compliance=nist,hipaa]/{stack.stack_name}", stack.template
    for name, assembly in example_assemblies.items():
        for stack in assembly.stacks:
            yield f"examples/{name}/{stack.stack_name}", stack.template


def of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {key: r for key, r in template["Resources"].items() if r["Type"] == resource_type}


def acknowledgments(template: Template) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """(logical id, resource, rule id, reason) of every acknowledgment in the template's Metadata."""
    for key, resource in template["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            yield key, resource, rule["id"], rule["reason"]


def references(value: Any) -> set[str]:
    """Logical ids that ``value`` refers to (``Ref`` and ``Fn::GetAtt``), anywhere inside it."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for inner in value.values():
            found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found
