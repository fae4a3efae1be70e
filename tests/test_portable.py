"""Taking a model home: every variant's ONNX gives torch's scores in onnxruntime at any batch
size, with its normalisation in the file; ``python -m lenet export`` writes it and refuses bad
input with one line; a run's TensorBoard files, read back with TensorBoard's own reader, hold
the JSONL's values at the same steps; and none of these packages load before they are used."""

import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lenet.cli import main
from lenet.data import NORMALIZATIONS, to_model_input
from lenet.models import build_model, normalization_of
from lenet.runs import RunStore, export_run, export_tensorboard, onnx_bytes
from lenet.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4
INITS = {"classic": "xavier", "modern": "default", "paper": "paper"}


def _scores(data: bytes, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(["scores"], {"image": x.numpy()})[0]


def _torch_scores(model, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(x).numpy()


# --- ONNX ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(INITS))
def exported(request):
    """(model, its ONNX bytes, whether it was still in training mode after the export), for
    each variant; exported from training mode, as a caller in the middle of training would."""
    model = build_model(request.param, init=INITS[request.param], seed=0).train()
    data = onnx_bytes(model, {"epoch": "3"})
    return model, data, model.training


def test_onnx_scores_match_torch_for_a_batch_of_5_and_of_1(exported):
    model, data, still_training = exported
    assert still_training  # the caller's model is left as it was
    x = torch.randn(5, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    for batch in (x, x[:1]):  # one file, two batch sizes: the batch axis is free
        onnx_out, torch_out = _scores(data, batch), _torch_scores(model, batch)
        assert onnx_out.shape == (len(batch), 10)
        assert np.abs(onnx_out - torch_out).max() <= TOLERANCE


def test_onnx_names_its_input_output_and_normalisation(exported):
    model, data, _ = exported
    proto = onnx.load_model_from_string(data)
    (image,), (scores,) = proto.graph.input, proto.graph.output
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert image.name == "image" and isinstance(dims[0], str) and dims[1:] == [1, 32, 32]
    assert scores.name == "scores"
    assert [d.dim_value for d in scores.type.tensor_type.shape.dim][1:] == [10]
    meta = {p.key: p.value for p in proto.metadata_props}
    mean, std = NORMALIZATIONS[normalization_of(model.variant)]
    assert meta["variant"] == model.variant and meta["epoch"] == "3"
    assert float(meta["input_mean"]) == pytest.approx(mean, rel=1e-5)
    assert float(meta["input_std"]) == pytest.approx(std, rel=1e-5)


def test_digits_scaled_as_the_metadata_says_score_as_in_torch():
    """What an app outside the lab does: raw pixels, the file's mean and std, onnxruntime."""
    model = build_model("paper", init="paper", seed=0)
    data = onnx_bytes(model)
    meta = {p.key: p.value for p in onnx.load_model_from_string(data).metadata_props}
    pixels = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    by_hand = torch.zeros(4, 1, 32, 32)
    by_hand[:, 0, 2:30, 2:30] = pixels / 255.0
    by_hand = (by_hand - float(meta["input_mean"])) / float(meta["input_std"])
    reference = _torch_scores(model, to_model_input(pixels, "paper"))
    assert np.abs(_scores(data, by_hand) - reference).max() <= TOLERANCE


def test_exports_started_together_all_succeed():
    models = [build_model(v, init=INITS[v], seed=0) for v in sorted(INITS)]
    results: dict[int, bytes | Exception] = {}

    def export(i):
        try:
            results[i] = onnx_bytes(models[i])
        except Exception as e:  # noqa: BLE001 - the assertion below names it
            results[i] = e

    threads = [threading.Thread(target=export, args=(i,)) for i in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    x = torch.randn(2, 1, 32, 32)
    for i, model in enumerate(models):
        assert isinstance(results[i], bytes), results[i]
        assert np.abs(_scores(results[i], x) - _torch_scores(model, x)).max() <= TOLERANCE


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


@pytest.fixture
def run(store):
    """A finished classic run with checkpoints for epochs 0 and 1 (different weights)."""
    cfg = TrainConfig(epochs=1, train_subset=512)
    r = store.create(asdict(cfg))
    r.save_epoch(0, build_model("classic", seed=0), None, cfg, None)
    r.save_epoch(1, build_model("classic", seed=1), None, cfg, None)
    r.finish("finished")
    return r


def test_export_onnx_writes_the_newest_or_the_chosen_epoch_and_replaces_a_file(
    run, tmp_path, capsys
):
    path = tmp_path / "lenet5.onnx"
    path.write_bytes(b"an older file")
    x = torch.randn(3, 1, 32, 32)
    assert main(["export", "--run", run.id, "--onnx", str(path)]) == 0
    assert f"epoch 1: wrote {path}" in capsys.readouterr().out
    assert np.abs(_scores(path.read_bytes(), x) - _torch_scores(run.load_model(1), x)).max() <= (
        TOLERANCE
    )
    assert main(["export", "--run", run.id, "--epoch", "0", "--onnx", str(path)]) == 0
    assert np.abs(_scores(path.read_bytes(), x) - _torch_scores(run.load_model(0), x)).max() <= (
        TOLERANCE
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_a_checkpoints_onnx_is_kept_in_the_run_but_never_zipped(run, tmp_path):
    first, again = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert main(["export", "--run", run.id, "--onnx", str(first)]) == 0
    assert (run.path / "onnx").is_dir()
    assert main(["export", "--run", run.id, "--onnx", str(again)]) == 0
    assert first.read_bytes() == again.read_bytes()
    assert b"/onnx/" not in export_run(run)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--run", "20990101-000000-abcdef", "--onnx", "{tmp}/m.onnx"], "no run"),
        (["--run", "../../etc", "--onnx", "{tmp}/m.onnx"], "no run"),
        (["--run", "{run}", "--epoch", "7", "--onnx", "{tmp}/m.onnx"], "no checkpoint for epoch 7"),
        (["--run", "{run}", "--onnx", "{tmp}"], "is a folder"),
        (["--run", "{run}", "--onnx", "{tmp}/missing/m.onnx"], "does not exist"),
        (["--run", "{run}", "--onnx", "/proc/lenet5.onnx"], "can't write /proc/lenet5.onnx"),
        (["--run", "{bare}", "--onnx", "{tmp}/m.onnx"], "no checkpoint yet"),
        (["--run", "{run}", "--epoch", "1", "--tensorboard", "{tmp}/tb"], "--epoch is for --onnx"),
        (["--run", "{bare}", "--tensorboard", "{tmp}/tb"], "no training steps"),
        (["--run", "{run}", "--tensorboard", "{tmp}/a-file"], "is a file"),
    ],
)
def test_export_refuses_bad_input_with_one_line_and_writes_nothing(
    args, needle, run, store, tmp_path, capsys
):
    bare = store.create(asdict(TrainConfig()))  # no checkpoint, no events
    bare.finish("interrupted")
    (tmp_path / "a-file").write_text("not a folder")
    before = sorted(p.name for p in tmp_path.iterdir())
    given = [a.format(tmp=tmp_path, run=run.id, bare=bare.id) for a in args]
    assert main(["export", *given]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_needs_exactly_one_destination(run, tmp_path):
    for extra in ([], ["--onnx", str(tmp_path / "m.onnx"), "--tensorboard", str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:
            main(["export", "--run", run.id, *extra])
        assert exc.value.code == 2


# --- TensorBoard -----------------------------------------------------------------------------

START = 1_700_000_000.0


def _batch(step, loss, acc, lr, seconds, epoch=1):
    return {"type": "batch", "epoch": epoch, "step": step, "loss": loss, "acc": acc, "lr": lr,
            "images_per_s": 900.0, "train_seconds": seconds}  # fmt: skip


def _epoch(epoch, step, train_loss, test_loss, test_acc, seconds, top3=None):
    e = {"type": "epoch", "epoch": epoch, "step": step, "train_loss": train_loss,
         "train_acc": 50.0 + epoch, "test_loss": test_loss, "test_acc": test_acc, "lr": 0.01,
         "train_seconds": seconds, "images_per_s": 1000.0}  # fmt: skip
    return e | ({"test_top3": top3} if top3 is not None else {})


@pytest.fixture
def resumed_run(store):
    """Two epochs of 4 steps, interrupted in the second and resumed from step 4: the log holds
    step 6 twice, and only the resumed value is the run's. Epoch 2 has no top-3 (a run logged
    before it existed)."""
    r = store.create(asdict(TrainConfig(epochs=2)))
    for e in [
        {"type": "start", "time": START, "steps_per_epoch": 4, "total_steps": 8, "lr": 0.01},
        _batch(2, 2.25, 20.0, 0.01, 0.25),
        _batch(4, 1.5, 41.5, 0.01, 0.5),
        _epoch(1, 4, 1.75, 1.2, 61.5, 0.5, top3=84.0),
        _batch(6, 9.99, 9.99, 0.01, 0.75, epoch=2),  # cut short by the interruption
        {"type": "interrupted", "step": 6, "train_seconds": 0.75},
        {"type": "resume", "time": START + 60, "epoch": 2, "step": 4, "total_steps": 8},
        {"type": "lr", "step": 5, "epoch": 2, "lr": 0.003},
        _batch(6, 1.125, 60.0, 0.003, 0.75, epoch=2),
        _batch(8, 0.875, 70.25, 0.003, 1.0, epoch=2),
        _epoch(2, 8, 1.0, 0.8, 74.0, 1.0),
        {"type": "done", "step": 8, "train_seconds": 1.0},
    ]:
        r.append(e)
    r.finish("finished")
    return r


def _read_back(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every value
    acc.Reload()
    return {
        tag: [(s.step, s.value, s.wall_time) for s in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def test_tensorboard_holds_the_jsonls_values_at_the_same_steps(resumed_run, tmp_path):
    folder = export_tensorboard(resumed_run, tmp_path / "tb")
    assert folder == tmp_path / "tb" / resumed_run.id
    events = resumed_run.events()
    kept = [e for e in events if e["type"] in ("batch", "epoch") and e.get("loss") != 9.99]
    expected = {}
    for tag, kind, key in [
        ("loss/train_batch", "batch", "loss"),
        ("accuracy/train_batch", "batch", "acc"),
        ("learning_rate", "batch", "lr"),
        ("loss/train", "epoch", "train_loss"),
        ("loss/test", "epoch", "test_loss"),
        ("accuracy/train", "epoch", "train_acc"),
        ("accuracy/test", "epoch", "test_acc"),
        ("accuracy/test_top3", "epoch", "test_top3"),
    ]:
        expected[tag] = [
            (e["step"], float(np.float32(e[key])), START + e["train_seconds"])
            for e in kept
            if e["type"] == kind and key in e
        ]
    got = _read_back(folder)
    assert set(got) == set(expected)
    for tag, rows in expected.items():
        assert [(s, v) for s, v, _ in got[tag]] == [(s, v) for s, v, _ in rows], tag
        assert [w for *_, w in got[tag]] == pytest.approx([w for *_, w in rows]), tag
    assert [s for s, *_ in got["loss/train_batch"]] == [2, 4, 6, 8]
    assert got["accuracy/test_top3"][0][:2] == (4, 84.0) and len(got["accuracy/test_top3"]) == 1


def test_a_second_tensorboard_export_replaces_the_first(resumed_run, tmp_path):
    first = export_tensorboard(resumed_run, tmp_path / "tb")
    values = _read_back(first)
    assert main(["export", "--run", resumed_run.id, "--tensorboard", str(tmp_path / "tb")]) == 0
    assert len(list(first.glob("events.out.tfevents.*"))) == 1
    assert _read_back(first) == values


# --- what loads when -------------------------------------------------------------------------


def test_training_the_cli_and_the_runs_page_start_without_the_export_packages():
    code = (
        "import sys; sys.path.insert(0, 'dashboard')\n"
        "import lenet, lenet.cli, lenet.runs, lenet.training, lenet.serving.worker\n"
        "import run_downloads\n"
        "heavy = ('onnx', 'onnxscript', 'onnx_ir', 'onnxruntime', 'tensorboard')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
