"""Each example runs as its README says: `npx cdk synth` from the example's folder, in a shell with
neither the repository's .venv nor node_modules/.bin on PATH: the pinned CDK CLI runs the example's
own cdk.json (its `app` command and its feature flags). No "feature flags are not configured" line,
no Node.js end-of-life banner, and the assembly passes the synth report (cdk-nag and cfn-lint)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from constructs_lib import synth_report

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"
EXAMPLES = sorted(path.parent for path in (REPO / "examples").glob("*/cdk.json"))

# A shell without an activated virtualenv and without node_modules/.bin on PATH (conftest adds it).
BARE_PATH = os.pathsep.join(
    p
    for p in os.environ.get("PATH", "").split(os.pathsep)
    if not p.startswith((str(REPO / ".venv"), str(REPO / "node_modules")))
)
NPX = shutil.which("npx", path=BARE_PATH)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        NPX is None or not CDK.exists() or not (REPO / ".venv" / "bin" / "python").exists(),
        reason="needs npx, the repository's .venv and the pinned CDK CLI: run `make synth` once",
    ),
]


def _cli_synth(example: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        "PATH": BARE_PATH,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "CDK_DISABLE_VERSION_CHECK": "true",
    }
    return subprocess.run(
        [str(NPX), "cdk", "synth", "--quiet", "--no-notices", "--output", str(outdir)],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_synths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    outdirs = {example.name: tmp_path_factory.mktemp(f"cli-{example.name}") for example in EXAMPLES}
    with ThreadPoolExecutor(max_workers=min(len(EXAMPLES), os.cpu_count() or 1)) as pool:
        runs = dict(zip(outdirs, pool.map(lambda e: _cli_synth(e, outdirs[e.name]), EXAMPLES), strict=True))
    return {name: (runs[name], outdirs[name]) for name in outdirs}


@pytest.mark.parametrize("example", [p.name for p in EXAMPLES])
def test_cdk_synth_from_the_example_folder_succeeds_with_every_flag_configured(cli_synths, example, capsys):
    run, outdir = cli_synths[example]
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "feature flags are not configured" not in output
    assert "end-of-life" not in output  # Node.js 22 from node_modules runs the app's jsii runtime
    assert synth_report.main(["synth_report", str(outdir)]) == 0, capsys.readouterr().out


def test_a_copy_outside_the_repository_runs_with_the_activated_virtualenv(tmp_path):
    """No ../../.venv next to the copy: cdk.json's `app` falls back to `python3`, the virtualenv's."""
    copy = tmp_path / "my-project" / "infra"
    shutil.copytree(REPO / "examples" / "existing_fleet", copy, ignore=shutil.ignore_patterns("cdk.out"))
    app = json.loads((copy / "cdk.json").read_text())["app"]
    venv = REPO / ".venv"
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "VIRTUAL_ENV": str(venv),  # what `source .venv/bin/activate` sets
        "PATH": os.pathsep.join([str(venv / "bin"), str(CDK.parent), BARE_PATH]),
        "CDK_OUTDIR": str(tmp_path / "out"),  # what the CDK CLI gives the app
    }
    run = subprocess.run(
        ["/bin/sh", "-c", app], cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out" / "SmartMeterDefender.template.json").exists()
