"""House rules that keep the two layers apart and the pages readable (see DESIGN.md)."""

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_PAGE_LINES = 150


def _imported_roots(tree: ast.AST) -> set[str]:
    """Top-level package of every import, including ``importlib.import_module("x")``."""
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in {"import_module", "__import__"}
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_core_never_imports_streamlit():
    files = sorted((ROOT / "lenet").rglob("*.py"))
    assert files, "no lenet/*.py found: the check would pass vacuously"
    offenders = []
    for path in files:
        roots = _imported_roots(ast.parse(path.read_text(), filename=str(path)))
        # streamlit itself and its components (streamlit_drawable_canvas, ...)
        bad = sorted(r for r in roots if r == "streamlit" or r.startswith("streamlit_"))
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {', '.join(bad)}")
    assert not offenders, "lenet/ must not import Streamlit:\n" + "\n".join(offenders)


def _pages() -> list[Path]:
    # Streamlit's multipage layout: the entry script plus every script under pages/.
    home = ROOT / "dashboard" / "Home.py"
    return [home, *sorted((ROOT / "dashboard" / "pages").rglob("*.py"))]


def test_pages_are_short():
    pages = _pages()
    assert pages[0].exists(), "dashboard/Home.py is missing"
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in pages
        if (n := len(p.read_text().splitlines())) > MAX_PAGE_LINES
    }
    assert not too_long, f"pages over {MAX_PAGE_LINES} lines (move logic into lenet/): {too_long}"


def test_ci_entry_point_runs_make_test():
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    commands = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "set -euo pipefail" in commands
    assert "make test" in commands, f".ci/run should call `make test`, has: {commands}"
    assert os.access(script, os.X_OK), ".ci/run is not executable"


def test_readme_starts_with_the_two_commands():
    readme = ROOT / "README.md"
    assert readme.exists(), "README.md is missing"
    text = readme.read_text()
    first_section = re.split(r"^## ", text, maxsplit=1, flags=re.M)[0]
    block = re.search(r"^```[^\n]*\n(.*?)^```", first_section, flags=re.M | re.S)
    assert block, "README should open (before its first ## section) with a code block"
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    for command in ("make dashboard", "make test"):
        assert command in lines, f"README's first code block lacks `{command}`: {lines}"


@pytest.mark.parametrize("target", ["dashboard", "test", "data", "chromium", "bench", "clean"])
def test_makefile_has_target(target):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}:", makefile, flags=re.M), f"Makefile lacks `{target}:`"
