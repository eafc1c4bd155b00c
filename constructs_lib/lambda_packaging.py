"""How this pack's functions are built: no Docker, Powertools from its public layer, arm64.

``function_code`` stages ``iot_defender_runtime/__init__.py`` (``lambdas/iot_defender_runtime`` in
the repository), the layers a function imports (README, "Architecture") and its own package into a
folder and hands it to ``Code.from_asset``, so each function ships only what it imports and the
handler path (``iot_defender_runtime.<function>.handler.lambda_handler``) is the same locally and in
Lambda, whether this library is a checkout or an installed package. The runtime's import name is
unique to this library, so a CDK app with its own ``lambdas`` package can use it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import tempfile
from functools import cache
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
# Powertools for AWS Lambda (Python) v3 layer version; override per construct when AWS publishes a newer one.
DEFAULT_POWERTOOLS_LAYER_VERSION = 38
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
# The layers of ``iot_defender_runtime`` each function imports, below its own package (the import-linter
# contracts in pyproject.toml keep this true: a function cannot import a layer it is not shipped with).
FUNCTION_LAYERS: dict[str, tuple[str, ...]] = {
    "quarantine": ("model", "adapters", "remediation"),
    "audit_remediation": ("model", "adapters", "remediation"),
    "detect_evaluator": ("model", "evaluation", "adapters"),
    "security_hub_findings": ("model", "adapters", "remediation"),
    "behavior_trainer": ("model", "evaluation", "adapters"),
}


RUNTIME_PACKAGE = "iot_defender_runtime"


def _runtime_root() -> Path:
    spec = importlib.util.find_spec(RUNTIME_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the '{RUNTIME_PACKAGE}' package of iot-device-defender-constructs is not importable")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def staged_source(function_package: str) -> str:
    """The folder ``Code.from_asset`` takes for one function (content-addressed, staged once)."""
    root = _runtime_root()
    source = root / function_package
    if function_package not in FUNCTION_LAYERS or not (source / "handler.py").is_file():
        raise ValueError(
            f"function package '{function_package}' is not one of {', '.join(FUNCTION_LAYERS)} with a handler.py "
            f"under {root}"
        )
    packages = (*FUNCTION_LAYERS[function_package], function_package)
    digest = hashlib.sha256()
    files = [root / "__init__.py", *(path for package in packages for path in (root / package).rglob("*.py"))]
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    staging = (
        Path(tempfile.gettempdir()) / "iot-device-defender-assets" / f"{function_package}-{digest.hexdigest()[:16]}"
    )
    if not staging.exists():
        building = Path(tempfile.mkdtemp(prefix=f"{function_package}-"))
        package = building / RUNTIME_PACKAGE
        package.mkdir()
        shutil.copy2(root / "__init__.py", package / "__init__.py")
        for name in packages:
            shutil.copytree(root / name, package / name, ignore=_IGNORED)
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            building.rename(staging)
        except OSError:  # another process staged the same content first
            shutil.rmtree(building, ignore_errors=True)
    return str(staging)


def function_code(function_package: str) -> lambda_.Code:
    """The asset for ``iot_defender_runtime/<function_package>`` and the layers it imports."""
    return lambda_.Code.from_asset(staged_source(function_package))


def handler_path(function_package: str) -> str:
    return f"{RUNTIME_PACKAGE}.{function_package}.handler.lambda_handler"


def powertools_layer(
    scope: Construct, id: str, *, version: int = DEFAULT_POWERTOOLS_LAYER_VERSION
) -> lambda_.ILayerVersion:
    """The public Powertools v3 layer for the stack's region (resolved at deploy time when the
    stack is environment-agnostic)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"powertools_layer_version {version!r} must be a positive integer")
    runtime_tag = RUNTIME.name.replace(".", "")  # python3.14 -> python314
    arn = Stack.of(scope).format_arn(
        service="lambda",
        account=POWERTOOLS_LAYER_ACCOUNT,
        resource="layer",
        resource_name=f"AWSLambdaPowertoolsPythonV3-{runtime_tag}-arm64:{version}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, id, arn)
