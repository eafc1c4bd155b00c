"""What `make dist` builds is what a user installs: the wheel holds the constructs and the runtime
under their own import names (no top-level ``lambdas``), marks both as typed (``py.typed``), carries
the license, and has the version the changelog's newest entry names."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from constructs_lib.lambda_packaging import FUNCTION_LAYERS
from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


def version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_the_wheel_holds_the_constructs_the_runtime_and_the_lab_under_their_own_names(wheel):
    top = {name.split("/")[0] for name in wheel.namelist()}
    dist_info = f"iot_device_defender_constructs-{version()}.dist-info"
    assert top == {"constructs_lib", "iot_defender_runtime", "detect_lab", dist_info}
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "iot-defender-lab = detect_lab.cli:main" in entry_points
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert "Provides-Extra: lab" in metadata  # matplotlib, DuckDB, pyarrow: only with the 'lab' extra


def test_both_packages_are_typed(wheel):
    assert {"constructs_lib/py.typed", "iot_defender_runtime/py.typed"} <= set(wheel.namelist())


def test_every_function_handler_and_its_layers_ship(wheel):
    names = set(wheel.namelist())
    for function, layers in FUNCTION_LAYERS.items():
        assert f"iot_defender_runtime/{function}/handler.py" in names
        assert all(f"iot_defender_runtime/{layer}/__init__.py" in names for layer in layers)


def test_the_license_and_its_metadata_ship(wheel):
    dist_info = f"iot_device_defender_constructs-{version()}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in wheel.namelist()
    assert "Apache License" in wheel.read(f"{dist_info}/licenses/LICENSE").decode()
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert re.search(r"^License-Expression: Apache-2.0$", metadata, re.MULTILINE)


def test_the_changelog_names_the_version():
    newest = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert newest is not None and newest.group(1) == version()


def test_the_repository_license_is_the_apache_license():
    assert Path(REPO / "LICENSE").read_text().strip().startswith("Apache License")
