"""The README's architecture section names real places, and the import contracts it describes are
the ones `make test` checks."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO

README = (REPO / "README.md").read_text()
ARCHITECTURE = README[README.index("## Architecture") : README.index("## Constructs")]


def test_every_path_the_architecture_section_names_exists():
    paths = set(re.findall(r"`((?:lambdas|constructs_lib)/[\w/.<>]+)`", ARCHITECTURE))
    assert len(paths) >= 20
    missing = [path for path in sorted(paths) if "<" not in path and not (REPO / path.rstrip("/")).exists()]
    assert missing == []


def test_where_a_change_goes_covers_each_kind_of_change():
    section = ARCHITECTURE[ARCHITECTURE.index("### Where a change goes") :]
    for kind in ("A new metric", "A new remediation action", "A new audit check", "A new construct"):
        assert f"**{kind}**" in section


def test_the_layers_described_are_the_import_linter_layers():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    # "iot_defender_runtime.quarantine | ..." -> "function packages"; "iot_defender_runtime.model" -> "model"
    checked = [
        "function packages" if "|" in layer else f"`{layer.removeprefix('iot_defender_runtime.')}`" for layer in layers
    ]
    assert " above ".join(checked) in " ".join(ARCHITECTURE.split())
    forbidden = {
        tuple(c["source_modules"]): set(c["forbidden_modules"]) for c in config["contracts"] if c["type"] == "forbidden"
    }
    assert {"aws_cdk", "constructs"} <= forbidden[("iot_defender_runtime",)]
    assert {"boto3", "aws_lambda_powertools"} <= forbidden[
        ("iot_defender_runtime.model", "iot_defender_runtime.evaluation")
    ]
    assert {"boto3", "iot_defender_runtime.adapters", "iot_defender_runtime.remediation"} <= forbidden[
        ("constructs_lib",)
    ]
