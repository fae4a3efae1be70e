"""The notebooks run top to bottom, headless, and what they print is true.

Each notebook runs in a fresh kernel with nbclient, from ``notebooks/`` as a reader would run it,
with ``LENET_QUICK=1`` (1 epoch on 10,000 images) and runs written to a temporary folder; any cell
error fails the test. The kernel is ipykernel's own "python3" for the interpreter running the
tests: kernelspecs installed on the machine are not consulted (one in ~/.local would otherwise
win and could point at another Python), and a first cell added here checks it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from browser_utils import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
PLOTLY = "application/vnd.plotly.v1+json"
CELL_TIMEOUT_S = (
    900  # the training cell on 2 busy cores; a normal quick run takes well under a minute
)


class Executed:
    """An executed notebook: its cells with outputs, the text it printed, its wall time."""

    def __init__(self, nb: nbformat.NotebookNode, seconds: float):
        self.nb, self.seconds = nb, seconds

    def text(self, cell: nbformat.NotebookNode) -> str:
        parts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
        return "".join(parts)

    @property
    def printed(self) -> str:
        return "\n".join(self.text(c) for c in self.nb.cells if c.cell_type == "code")

    def count(self, mime: str) -> int:
        return sum(
            mime in out.get("data", {})
            for c in self.nb.cells
            if c.cell_type == "code"
            for out in c.get("outputs", [])
        )


def execute(name: str, tmp: Path, extra_cells: tuple[str, ...] = ()) -> Executed:
    """Run ``notebooks/<name>`` with a first cell that reports the kernel's Python, then
    ``extra_cells``."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.insert(
        0, nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.prefix, sys.executable)")
    )
    nb.cells.extend(nbformat.v4.new_code_cell(src) for src in extra_cells)
    env = {
        **os.environ,
        "LENET_QUICK": "1",
        "LENET_RUNS_DIR": str(tmp / "runs"),
        "PYTHONWARNINGS": "ignore",
        # this checkout's lenet, whatever an installed one (an editable install of another
        # checkout, say) would answer from notebooks/
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
        ),
    }
    # The repository's data/ is what the notebooks find on their own from notebooks/; leave it to
    # them so that lookup is tested too. Any other folder the person running the tests chose stays.
    if (
        Path(env.get("LENET_DATA_DIR", REPO_ROOT / "data")).resolve()
        == (REPO_ROOT / "data").resolve()
    ):
        env.pop("LENET_DATA_DIR", None)
    # No kernel directories: "python3" then falls back to ipykernel's own spec for sys.executable.
    km = AsyncKernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[])
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    client.execute(env=env)  # raises CellExecutionError, naming the cell, on any error
    return Executed(nb, time.perf_counter() - start)


def percent(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in the notebook's output:\n{text[-3000:]}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def train_model(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    return execute("train_model.ipynb", tmp_path_factory.mktemp("train_model"))


@pytest.fixture(scope="module")
def full_lenet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Executed, Path]:
    tmp = tmp_path_factory.mktemp("full_lenet")
    weights = tmp / "full_lenet.pt"
    save = (
        f"torch.save(model.state_dict(), {str(weights)!r})"  # for the comparison with the package
    )
    return execute("full_lenet.ipynb", tmp, extra_cells=(save,)), weights


@pytest.mark.slow  # every test that executes a notebook trains on real MNIST (20-60 s each)
@pytest.mark.parametrize("fixture", ["train_model", "full_lenet"])
def test_kernel_is_this_python(fixture: str, request: pytest.FixtureRequest) -> None:
    executed = request.getfixturevalue(fixture)
    executed = executed[0] if isinstance(executed, tuple) else executed
    first = executed.text(executed.nb.cells[0]).split()
    assert first[:2] == ["KERNEL", sys.prefix], f"kernel ran {first}, tests run {sys.prefix}"


@pytest.mark.slow
def test_train_model_trains_and_reports_true_numbers(train_model: Executed) -> None:
    text = train_model.printed
    assert "quick run: 1 epoch(s) on 10,000 training images" in text
    assert "trainable parameters: 61,706" in text
    top1 = percent(r"test top-1 accuracy: ([\d.]+) %", text)
    top3 = percent(r"test top-3 accuracy: ([\d.]+) %", text)
    assert 90.0 < top1 <= top3 <= 100.0, (top1, top3)
    mistakes = int(percent(r"mistakes: (\d+) of 10,000", text))
    assert mistakes == round(100 * (100 - top1))  # the two lines describe the same predictions
    assert re.search(r"most confused \(true → predicted: count\): \d → \d: \d+", text)


@pytest.mark.slow
def test_train_model_draws_every_figure(train_model: Executed) -> None:
    # batch grid, architecture, confusion matrix, mistakes, digit, C1 maps and kernels, C3 maps and
    # kernels
    assert train_model.count(PLOTLY) == 9
    shown = [
        o for c in train_model.nb.cells for o in c.get("outputs", []) if PLOTLY in o.get("data", {})
    ]
    mistakes = next(
        o for o in shown if "misclassified digits" in str(o["data"][PLOTLY]["layout"].get("title"))
    )
    assert mistakes["data"][PLOTLY]["data"][0]["type"] == "image"  # the composed grid of digits


@pytest.mark.slow
def test_full_lenet_counts_parameters_and_learns(full_lenet: tuple[Executed, Path]) -> None:
    executed, _ = full_lenet
    text = executed.printed
    code = "\n".join(c.source for c in executed.nb.cells if c.cell_type == "code")
    assert not re.search(r"^\s*(import|from)\s+lenet\b", code, re.MULTILINE)  # self-contained
    assert "trainable parameters: 61,706" in text
    assert percent(r"test top-1 accuracy: ([\d.]+) %", text) > 90.0
    assert executed.count(PLOTLY) == 3  # batch grid, confusion matrix, misclassified digits


@pytest.mark.slow
def test_full_lenet_is_the_package_classic_model(full_lenet: tuple[Executed, Path]) -> None:
    """The notebook's weights load into ``lenet``'s classic LeNet-5 and score the same there."""
    from lenet import LeNet5, count_parameters, evaluate_classification, load_split

    executed, weights = full_lenet
    model = LeNet5("classic")
    model.load_state_dict(
        torch.load(weights, weights_only=True), strict=True
    )  # same names and shapes
    assert count_parameters(model) == 61_706
    package = evaluate_classification(model, load_split("test"), topk=(1, 3))
    notebook_top1 = percent(r"test top-1 accuracy: ([\d.]+) %", executed.printed)
    notebook_top3 = percent(r"test top-3 accuracy: ([\d.]+) %", executed.printed)
    # torchvision's ToTensor+Normalize and the package's fused normalisation differ by float
    # rounding only; allow one or two borderline images out of 10,000
    assert package["top1"] == pytest.approx(notebook_top1, abs=0.025)
    assert package["top3"] == pytest.approx(notebook_top3, abs=0.025)


def test_notebooks_are_stored_without_outputs() -> None:
    """Committed notebooks carry no outputs (see the note at the top of each): nothing stale."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        stale = [
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
        ]
        assert not stale, (
            f"{path.name}: cells {stale} have stored outputs; clear them before committing"
        )
