"""The import graph of src/affectlab (read by benchmarks/architecture.py, nothing imported)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def architecture():
    spec = importlib.util.spec_from_file_location("affectlab_architecture", REPO / "benchmarks" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.fixture(scope="module")
def report(architecture):
    return architecture.report(REPO / "src")


def test_no_module_level_import_cycle(report):
    circles = [" -> ".join(c["example"]) for c in report["cycles"]["module_level"]]
    assert not circles, "module-level import circles (see python benchmarks/architecture.py):\n" + "\n".join(circles)


def test_no_import_cycle_even_through_imports_inside_functions(report):
    circles = [" -> ".join(c["example"]) for c in report["cycles"]["with_inner"]]
    assert not circles, "import circles closed by imports inside functions:\n" + "\n".join(circles)


def test_no_import_runs_up_a_floor(report):
    upward = [f"{u['from']} -> {u['to']} ({u['where']})" for u in report["upward"]]
    assert not upward, "imports into a higher floor of LAYERS (benchmarks/architecture.py):\n" + "\n".join(upward)


def test_every_package_has_a_floor(report):
    assert report["unplaced_packages"] == [], "add these packages to LAYERS in benchmarks/architecture.py"


def test_checker_finds_circles_and_upward_imports(architecture, tmp_path):
    pkg = tmp_path / "affectlab"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("from affectlab.data import a\n")
    (pkg / "data" / "a.py").write_text("from affectlab.data import b\n\ndef f():\n    import affectlab.cli\n")
    (pkg / "data" / "b.py").write_text("from . import a\nfrom typing import TYPE_CHECKING\n"
                                       "if TYPE_CHECKING:\n    from affectlab import cli\n")
    (pkg / "cli.py").write_text("def long():\n" + "    x = 1\n" * 120)
    out = architecture.report(tmp_path)
    assert [c["modules"] for c in out["cycles"]["module_level"]] == [["affectlab.data.a", "affectlab.data.b"]]
    assert out["upward"] == [{"from": "affectlab.data.a", "to": "affectlab.cli", "where": "inner"}]
    assert out["inner_imports"] == {"total": 1, "affectlab": 1, "third_party": 0,
                                    "affectlab_by_module": {"affectlab.data.a": 1}}
    assert [(f["name"], f["lines"]) for f in out["long_functions"]["functions"]] == [("long", 121)]
