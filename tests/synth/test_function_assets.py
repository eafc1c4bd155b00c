"""Each function's asset holds what its handler imports, and nothing of the other layers.

The handler is imported in a fresh interpreter whose only copy of ``iot_defender_runtime`` is the staged asset
(the checkout and the editable install are taken off the path), as in Lambda, where the runtime
packages come from the Powertools layer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from constructs_lib.lambda_packaging import FUNCTION_LAYERS, staged_source
from tests.conftest import REPO

_IMPORT_FROM_ASSET_ALONE = """
import json, os, sys
asset, repo = sys.argv[1], sys.argv[2]
sys.path[:] = [asset] + [p for p in sys.path[1:] if p and os.path.realpath(p) != os.path.realpath(repo)]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
import importlib
importlib.import_module(sys.argv[3])
loaded = {m.__file__ for n, m in sys.modules.items() if n.startswith("iot_defender_runtime") and m.__file__}
print(json.dumps(sorted(loaded)))
"""


@pytest.mark.parametrize("function_package", sorted(FUNCTION_LAYERS))
def test_handler_imports_from_its_asset_alone(function_package: str):
    # Given the staged asset of one function, When its handler module is imported with only that
    # asset on the path, Then the import succeeds and every runtime module came from the asset.
    asset = staged_source(function_package)
    module = f"iot_defender_runtime.{function_package}.handler"
    completed = subprocess.run(
        [sys.executable, "-B", "-c", _IMPORT_FROM_ASSET_ALONE, asset, str(REPO), module],
        capture_output=True,
        text=True,
        cwd=asset,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    files = json.loads(completed.stdout.strip().splitlines()[-1])
    assert files and all(file.startswith(asset) for file in files)


@pytest.mark.parametrize(("function_package", "layers"), sorted(FUNCTION_LAYERS.items()))
def test_asset_ships_only_the_layers_its_function_imports(function_package: str, layers: tuple[str, ...]):
    shipped = sorted(
        p.name for p in (Path(staged_source(function_package)) / "iot_defender_runtime").iterdir() if p.is_dir()
    )
    assert shipped == sorted({*layers, function_package} - {"__pycache__"})
