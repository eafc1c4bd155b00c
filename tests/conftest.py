"""Shared fixtures. Synthesized apps are built once per session: each synth costs seconds."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
_NODE_BIN = REPO / "node_modules" / ".bin"
if _NODE_BIN.is_dir() and str(_NODE_BIN) not in os.environ.get("PATH", ""):
    # Node.js 22 from npm for the jsii runtime, as the Makefile does, before aws_cdk starts it.
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

import aws_cdk as cdk  # noqa: E402


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference_assembly(tmp_path_factory: pytest.TempPathFactory) -> cdk.cx_api.CloudAssembly:
    """Every stage of app.py, with the cdk.json context and the nag packs, synthesized once."""
    import json

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("reference")), context=context)
    load_module(REPO / "app.py", "reference_app").build(app)
    return app.synth()


@pytest.fixture(scope="session")
def example_assemblies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, cdk.cx_api.CloudAssembly]:
    assemblies = {}
    for example in sorted((REPO / "examples").glob("*/app.py")):
        app = cdk.App(outdir=str(tmp_path_factory.mktemp(example.parent.name)))
        load_module(example, f"example_{example.parent.name}").build(app)
        assemblies[example.parent.name] = app.synth()
    return assemblies


COMPLIANCE_MODES = ("none", "managed", "self-hosted")


@pytest.fixture(scope="session")
def compliance_assemblies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, cdk.cx_api.CloudAssembly]:
    """app.py's dev stage in each Detect mode with ``-c compliance=nist,hipaa``: the AwsSolutions,
    Serverless, NIST 800-53 R5 and HIPAA Security packs (synth raises on any unacknowledged error)."""
    import json

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    assemblies = {}
    for mode in COMPLIANCE_MODES:
        extra = {"stage": "dev", "detect": mode, "compliance": "nist,hipaa"}
        app = cdk.App(outdir=str(tmp_path_factory.mktemp(f"compliance-{mode}")), context={**context, **extra})
        load_module(REPO / "app.py", f"compliance_app_{mode.replace('-', '_')}").build(app)
        assemblies[mode] = app.synth()
    return assemblies
