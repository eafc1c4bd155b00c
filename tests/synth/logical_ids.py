"""The logical ids (and types) of every stack of app.py, in each Detect mode, and of every example.

Construct ids are public contract: a changed logical id replaces a resource in someone's account.
``fixtures/logical_ids.json`` was written by this module from the commit before the layers were
split (issue 10); regenerate it only for a change that is meant to replace resources:

    .venv/bin/python -m tests.synth.logical_ids tests/synth/fixtures/logical_ids.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import aws_cdk as cdk

from tests.conftest import REPO, load_module

FIXTURE = Path(__file__).parent / "fixtures" / "logical_ids.json"
REFERENCE_VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "managed": {"detect": "managed"},
    "self-hosted": {"detect": "self-hosted"},
    "self-hosted-iot-logs": {"detect": "self-hosted", "iotLogs": "true"},
}


def _resources(assembly: cdk.cx_api.CloudAssembly, label: str) -> dict[str, dict[str, str]]:
    return {
        f"{label}/{stack.stack_name}": {key: resource["Type"] for key, resource in stack.template["Resources"].items()}
        for stack in assembly.stacks
    }


def logical_ids() -> dict[str, dict[str, str]]:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    found: dict[str, dict[str, str]] = {}
    for variant, extra in REFERENCE_VARIANTS.items():
        app = cdk.App(outdir=tempfile.mkdtemp(prefix="ids-"), context={**context, **extra})
        load_module(REPO / "app.py", f"logical_ids_{variant.replace('-', '_')}").build(app)
        found.update(_resources(app.synth(), f"app.py[{variant}]"))
    for example in sorted((REPO / "examples").glob("*/app.py")):
        app = cdk.App(outdir=tempfile.mkdtemp(prefix="ids-"))
        load_module(example, f"logical_ids_{example.parent.name}").build(app)
        found.update(_resources(app.synth(), f"examples/{example.parent.name}"))
    return found


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(logical_ids(), indent=1, sort_keys=True) + "\n")
