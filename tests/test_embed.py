"""The F6 map: embeddings of a split (PCA and t-SNE), placing a new digit, the cache in the run
folder, the browser payload, and the background t-SNE's one-at-a-time bookkeeping."""

import base64
import io
import json
import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import torch
from PIL import Image

from lenet import embed, plots
from lenet.analysis.embed import (
    Embedding,
    cached_embedding,
    embedding,
    features,
    features_and_predictions,
)
from lenet.cli import main
from lenet.models import build_model
from lenet.runs import RunStore
from lenet.serving import embeddings as bg
from lenet.training import TrainConfig


@pytest.fixture(scope="module")
def digits():
    """300 random 'digits' and a seeded classic model: enough structure for the maths."""
    torch.manual_seed(0)
    images = torch.randn(300, 1, 32, 32)
    return types.SimpleNamespace(images=images, labels=torch.arange(300) % 10)


@pytest.fixture(scope="module")
def model():
    return build_model("classic", seed=3)


def test_features_are_the_layer_outputs(model, digits):
    f6 = features(model, digits.images, "F6")
    c5 = features(model, digits.images, "C5", batch_size=7)  # batches glue back together
    assert f6.shape == (300, 84) and c5.shape == (300, 120) and f6.dtype == np.float32
    with torch.no_grad():
        x = model.C5(model.S4(model.C3(model.S2(model.C1(digits.images[:5])))))
        np.testing.assert_allclose(c5[:5], x.flatten(1).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="can't be mapped"):
        features(model, digits.images, "S2")
    again, predicted = features_and_predictions(model, digits.images, "F6", batch_size=64)
    np.testing.assert_array_equal(again, f6)
    with torch.no_grad():
        np.testing.assert_array_equal(predicted, model(digits.images).argmax(1).numpy())


def test_pca_map_has_one_point_per_digit_and_is_the_top_two_directions(model, digits):
    got = embedding(model, digits, "F6", "pca")
    assert got.points.shape == (300, 2) and got.points.dtype == np.float32
    x = features(model, digits.images)
    centred = x - x.mean(0)
    variance = np.linalg.svd(centred, compute_uv=False) ** 2
    np.testing.assert_allclose(got.points.var(0) * 300, variance[:2], rtol=1e-3)
    assert got.explained == pytest.approx(variance[:2].sum() / variance.sum(), rel=1e-4)
    assert got.points[:, 0].var() >= got.points[:, 1].var()  # the first axis spreads most
    # The same model and digits give the same map, never its mirror image.
    np.testing.assert_array_equal(embed(model, digits), got.points)
    # A digit already on the map lands on its own point.
    np.testing.assert_allclose(got.place(x[17]), got.points[17], atol=1e-4)


def test_tsne_map_is_deterministic_for_a_seed_and_places_digits_among_their_neighbours(
    model, digits
):
    a = embedding(model, digits, "F6", "tsne", seed=1, threads=1)
    b = embedding(model, digits, "F6", "tsne", seed=1, threads=1)
    assert a.points.shape == (300, 2) and np.isnan(a.explained)
    np.testing.assert_allclose(a.points, b.points, atol=1e-4)
    x = features(model, digits.images)
    with pytest.raises(ValueError, match="needs the mapped digits' features"):
        a.place(x[0])
    np.testing.assert_allclose(a.place(x[42], x), a.points[42], atol=1e-3)  # its own point
    with pytest.raises(ValueError, match="method 'umap' is unknown"):
        embedding(model, digits, "F6", "umap")


def test_cached_map_is_written_once_and_a_damaged_file_is_made_again(model, digits, tmp_path):
    path = tmp_path / "epoch_001_F6_pca.npz"
    first = cached_embedding(model, digits, path)
    written = path.stat().st_mtime_ns
    again = cached_embedding(build_model("classic", seed=99), digits, path)  # read, not computed
    np.testing.assert_array_equal(again.points, first.points)
    assert path.stat().st_mtime_ns == written and again.method == "pca"
    np.testing.assert_allclose(again.basis, first.basis)
    path.write_bytes(b"not an npz")
    mended = cached_embedding(model, digits, path)
    np.testing.assert_array_equal(mended.points, first.points)
    assert Embedding.from_file(path).layer == "F6"


def test_the_browser_payload_decodes_to_the_points_labels_and_marker():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 2)) * [3, 1] + [10, -5]
    labels, predicted = rng.integers(0, 10, 50), rng.integers(0, 10, 50)
    got = plots.map_payload(points, labels, predicted, marker=points[7])
    scaled = np.frombuffer(base64.b64decode(got["points"]), "<u2").reshape(-1, 2) / 65535
    lo, hi = np.array(got["bounds"][:2]), np.array(got["bounds"][2:])
    np.testing.assert_allclose(lo + scaled * (hi - lo), points, atol=(hi - lo).max() / 60000)
    classes = np.frombuffer(base64.b64decode(got["classes"]), np.uint8)
    assert (classes & 15).tolist() == labels.tolist()
    assert (classes >> 4).tolist() == predicted.tolist()
    np.testing.assert_allclose(got["marker"], scaled[7], atol=1e-4)
    assert got["n"] == 50
    unknown = plots.map_payload(points, labels)
    assert set(np.frombuffer(base64.b64decode(unknown["classes"]), np.uint8) >> 4) == {15}
    assert unknown["marker"] is None


def test_digit_sheet_puts_digit_i_at_row_i_div_columns():
    raw = np.zeros((23, 28, 28), np.uint8)
    for i in range(23):
        raw[i, i, :] = 255  # digit i: a white row i
    sheet = np.asarray(Image.open(io.BytesIO(plots.digit_sheet_png(raw, columns=10))))
    assert sheet.shape == (3 * 28, 10 * 28)
    for i in range(23):
        tile = sheet[i // 10 * 28 : i // 10 * 28 + 28, i % 10 * 28 : i % 10 * 28 + 28]
        assert tile[i].min() == 255 and np.delete(tile, i, axis=0).max() == 0, i


# ---------------------------------------------------------------- the background t-SNE process
@pytest.fixture
def run(tmp_path):
    store = RunStore(tmp_path / "runs")
    r = store.create(TrainConfig().__dict__)
    r.save_epoch(0, build_model("classic"), None, TrainConfig(), None)
    return r


_POPEN = subprocess.Popen


class FakeProcess:
    """Stands in for ``python -m lenet embed``: a real child process that lives a while."""

    started: list = []

    def __init__(self, args, **kwargs):
        FakeProcess.started.append(args)
        self._proc = _POPEN([sys.executable, "-c", "import time; time.sleep(30)"])
        self.pid = self._proc.pid

    def wait(self):
        return self._proc.wait()


def test_thirty_requests_start_one_process_and_other_maps_wait(run, monkeypatch):
    FakeProcess.started = []
    monkeypatch.setattr(bg.subprocess, "Popen", FakeProcess)
    assert bg.tsne_state(run, 0) == (bg.MISSING, "")
    states = [bg.request_tsne(run, 0) for _ in range(30)]
    assert states == [bg.COMPUTING] * 30 and len(FakeProcess.started) == 1
    args = FakeProcess.started[0]
    assert args[1:] == ["-m", "lenet", "embed", "--run", run.id, "--epoch", "0", "--layer", "F6",
                        "--method", "tsne", "--quiet"]  # fmt: skip
    assert bg.request_tsne(run, 1) == bg.WAITING  # one map at a time for the runs folder
    assert len(FakeProcess.started) == 1
    holder = json.loads((run.path.parent / ".tsne.lock").read_text())["pid"]
    os.kill(holder, 9)
    deadline = time.monotonic() + 10
    while bg.tsne_state(run, 0)[0] != bg.MISSING and time.monotonic() < deadline:
        time.sleep(0.05)  # a crashed process leaves its lock behind: it counts for nothing
    assert bg.request_tsne(run, 1) == bg.COMPUTING and len(FakeProcess.started) == 2
    os.kill(json.loads((run.path.parent / ".tsne.lock").read_text())["pid"], 9)


def test_the_process_writes_the_map_or_its_error_and_frees_the_folder(run):
    lock = run.path.parent / ".tsne.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "map": "x"}))
    payload = embedding(build_model("classic"), types.SimpleNamespace(
        images=torch.randn(40, 1, 32, 32)), method="pca").to_bytes()  # fmt: skip
    bg.compute_in_background_process(run, 0, "F6", lambda: payload)
    assert bg.tsne_state(run, 0) == (bg.READY, "") and not lock.exists()

    def broken():
        raise MemoryError("no room for the map")

    lock.write_text(json.dumps({"pid": os.getpid(), "map": "x"}))
    with pytest.raises(MemoryError):
        bg.compute_in_background_process(run, 3, "F6", broken)
    state, message = bg.tsne_state(run, 3)
    assert state == bg.FAILED and message == "MemoryError: no room for the map"
    assert bg.request_tsne(run, 3) == bg.FAILED  # not started again and again
    assert not lock.exists()


def test_cli_embed_maps_a_run_and_names_a_bad_one(run, monkeypatch, capsys, real_raw):
    monkeypatch.setenv("LENET_RUNS_DIR", str(run.path.parent))
    assert main(["embed", "--run", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["embed", "--run", run.id, "--epoch", "4"]) == 2
    assert "epoch 4" in capsys.readouterr().err
    assert main(["embed", "--run", run.id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epoch"] == 0 and len(out["points"]) == 10_000 and out["method"] == "pca"
    assert bg.embedding_path(run, 0, "F6", "pca").is_file()
