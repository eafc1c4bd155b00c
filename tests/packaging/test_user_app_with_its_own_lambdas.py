"""A CDK app with its own top-level ``lambdas`` package (a common layout) uses this library: the
runtime is imported as ``iot_defender_runtime``, so the app's ``lambdas`` and ours never collide, and
the app's assets still hold our handlers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

USER_APP = """
import aws_cdk as cdk

import lambdas.shared  # the app's own package, first on the path as in any CDK app
from constructs_lib import DeviceDefender

app = cdk.App()
stack = cdk.Stack(app, "UserStack")
DeviceDefender(stack, "Defender", fleet_groups=["sensors"], notification_email="secops@example.com")
app.synth()
print("user lambdas:", lambdas.shared.WHO)
"""


def test_an_app_with_its_own_lambdas_package_synthesizes_with_our_handlers(tmp_path: Path) -> None:
    (tmp_path / "lambdas").mkdir()
    (tmp_path / "lambdas" / "__init__.py").write_text("")
    (tmp_path / "lambdas" / "shared.py").write_text('WHO = "the app\'s own"\n')
    (tmp_path / "app.py").write_text(USER_APP)
    out = tmp_path / "cdk.out"
    completed = subprocess.run(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        env={**os.environ, "CDK_OUTDIR": str(out), "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "user lambdas: the app's own" in completed.stdout
    template = json.loads((out / "UserStack.template.json").read_text())
    handlers = {
        r["Properties"]["Handler"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "Handler" in r["Properties"]
    }
    assert "iot_defender_runtime.quarantine.handler.lambda_handler" in handlers
    assets = [p for p in out.iterdir() if p.name.startswith("asset.") and (p / "iot_defender_runtime").is_dir()]
    assert any((asset / "iot_defender_runtime" / "quarantine" / "handler.py").is_file() for asset in assets)
