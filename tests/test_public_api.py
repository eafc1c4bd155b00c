"""The public names of ``constructs_lib``: loaded on first use at run time, imported for type checkers,
and the two lists the same (so pyright and mypy users see every name the package exports)."""

from __future__ import annotations

import ast
import subprocess
import sys

import constructs_lib
from tests.conftest import REPO


def _type_checking_imports() -> set[str]:
    tree = ast.parse((REPO / "constructs_lib" / "__init__.py").read_text())
    [block] = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    return {
        alias.asname or alias.name for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }


def test_every_exported_name_is_imported_for_type_checkers_and_loads():
    assert set(constructs_lib.__all__) == set(constructs_lib._EXPORTS) == _type_checking_imports()
    for name in constructs_lib.__all__:
        assert getattr(constructs_lib, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    try:
        constructs_lib.NotAConstruct  # noqa: B018
    except AttributeError as error:
        assert "NotAConstruct" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_does_not_import_the_cdk():
    code = "import sys, constructs_lib; print('aws_cdk' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
