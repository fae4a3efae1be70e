"""House rules that keep the two layers apart and the pages readable (see DESIGN.md), and the
package's shape: every exported name exists, the face re-exports the public API, no import cycle."""

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_PAGE_LINES = 150
# A reviewer's tool, outside the repository: the test runs where it is installed.
IMPORT_GRAPH = Path("/work/shared/tools/import_graph.py")
# What notebooks and the README import from the face (``from lenet import ...``).
FACE = [
    "LeNet5", "TrainConfig", "PRESETS", "train", "RunStore", "load_split", "ensure_mnist",
    "create_data", "summary", "activations", "predict", "confusion_matrix",
    "per_class_accuracy", "preprocess_digit", "ConvTanh", "SubsampleAvgPool", "init_tanh_xavier",
    "topk_accuracies", "_topk_accuracies", "train_epoch_classification",
    "evaluate_classification", "denormalize", "show_batch_images", "visualize_test_predictions",
]  # fmt: skip


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
    # The router (Home.py) and the pages it runs, under views/.
    home = ROOT / "dashboard" / "Home.py"
    return [home, *sorted((ROOT / "dashboard" / "views").rglob("*.py"))]


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


def _modules(package: str = "lenet") -> list[str]:
    """Every module of ``package``, found from its files (an import could find a stale copy)."""
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":  # running it is the CLI, not an import
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", _modules())
def test_every_name_in_a_modules_all_exists(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT), (
        f"{name} came from {module.__file__}"
    )
    exported = getattr(module, "__all__", [])
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what the module does not define: {missing}"


def test_star_import_of_the_face_gives_its_public_api():
    import lenet

    namespace: dict = {}
    exec("from lenet import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(lenet.__all__)
    assert [name for name in FACE if name not in namespace] == []
    for name, home in lenet._EXPORTS.items():  # the very objects of the modules defining them
        assert namespace[name] is getattr(importlib.import_module(home), name), name


def test_the_worker_and_the_cli_start_without_the_view_libraries():
    code = (
        "import sys, lenet, lenet.cli, lenet.serving.worker\n"
        "from lenet import LeNet5, TrainConfig, train, RunStore, load_split\n"
        "print(sorted(m for m in ('pandas', 'plotly', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_without_a_cluster_address_nothing_imports_ray():
    """The embedded default (local worker processes) never loads Ray: not the job manager, not
    the worker, not the CLI, not a dashboard server's services."""
    code = (
        "import sys; sys.path.insert(0, 'dashboard')\n"
        "import lenet.cli, lenet.serving, lenet.serving.jobs, lenet.serving.worker, services\n"
        "from lenet.serving import JobManager, ClusterUnavailable\n"
        "print('ray' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "LENET_RAY_ADDRESS"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_import_names_a_module_that_is_not_in_the_checkout():
    """An editable install of an older checkout would still answer ``import lenet.train``: read
    the imports instead of running them, deferred and TYPE_CHECKING ones included."""
    known = set(_modules("lenet")) | set(_modules("benchmarks")) | {"lenet.__main__"}
    stale = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ("lenet", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        for name in _imported_modules(path)
        if name.split(".")[0] in ("lenet", "benchmarks") and name not in known
    )
    assert not stale, "imports of modules that no longer exist:\n" + "\n".join(stale)


@pytest.mark.skipif(not IMPORT_GRAPH.is_file(), reason=f"{IMPORT_GRAPH} is not on this machine")
def test_the_package_has_no_import_cycles():
    out = subprocess.run(
        [sys.executable, str(IMPORT_GRAPH), "lenet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "no import cycles" in out.stdout and out.returncode == 0, out.stdout + out.stderr


def test_no_source_file_is_ignored_by_git():
    """A source file that .gitignore matches never reaches a clone (``data/`` once hid
    ``lenet/data/``): every .py under the code folders must be trackable."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--",
         "lenet", "dashboard", "benchmarks", "tests", "notebooks"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    ignored = [p for p in listed if p.endswith((".py", ".ipynb"))]
    assert not ignored, f"ignored by .gitignore, so missing from every clone: {ignored}"
