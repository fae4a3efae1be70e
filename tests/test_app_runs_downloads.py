"""AppTest for the Runs page's downloads: a run with a checkpoint offers its newest one as ONNX
beside the zip, made only when clicked and scoring as the checkpoint does in torch; a run
without one offers the zip alone.

AppTest can't click a download whose bytes are made on click, so the test keeps what the page
hands Streamlit for later and calls it as Streamlit would.
"""

from dataclasses import asdict

import numpy as np
import onnxruntime as ort
import pytest
import streamlit as st
import torch
from streamlit.runtime.media_file_manager import MediaFileManager

from app_utils import open_page
from lenet.models import build_model
from lenet.runs import RunStore
from lenet.training import TrainConfig


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs folder of this test's own; caches cleared so the job manager uses it."""
    monkeypatch.setenv("LENET_RUNS_DIR", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    from services import job_manager

    job_manager().shutdown()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def deferred(monkeypatch) -> dict:
    """file name -> the callable a download button will call when clicked."""
    made = {}
    register = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        made[file_name] = data_callable
        return register(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return made


def _run(store: RunStore, variant: str, epochs: int):
    """A run that trained ``epochs`` epochs (checkpoints 0 … epochs); with 0, one interrupted
    before its first checkpoint."""
    cfg = TrainConfig(variant=variant, epochs=max(epochs, 1), train_subset=512)
    run = store.create(asdict(cfg))
    if epochs:
        for epoch in range(epochs + 1):
            run.save_epoch(epoch, build_model(variant, seed=epoch), None, cfg, None)
    run.finish("finished" if epochs else "interrupted")
    return run


def _buttons(at) -> list[str]:
    return [b.label for b in at.get("download_button")]


def test_a_checkpointed_run_offers_its_newest_checkpoint_as_onnx(runs_dir, deferred):
    run = _run(RunStore(runs_dir), "modern", epochs=2)
    at = open_page("runs", {"run": run.id}).run()
    assert not at.exception
    assert _buttons(at) == ["Export .zip", "Download ONNX"]
    name = f"lenet5_modern_{run.id}_epoch2.onnx"
    assert name in deferred and not (run.path / "onnx").exists()  # nothing made before a click
    session = ort.InferenceSession(deferred[name](), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        expected = run.load_model(2)(x).numpy()
    assert np.abs(session.run(["scores"], {"image": x.numpy()})[0] - expected).max() <= 1e-4


def test_a_run_without_a_checkpoint_offers_the_zip_alone(runs_dir, deferred):
    run = _run(RunStore(runs_dir), "classic", epochs=0)
    at = open_page("runs", {"run": run.id}).run()
    assert not at.exception
    assert _buttons(at) == ["Export .zip"]
    assert not any(name and name.endswith(".onnx") for name in deferred)
