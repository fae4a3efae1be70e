"""The F6 map on the Feature maps page: the 10,000 test digits placed by what F6 makes of them,
coloured by class, the page's digit as a star among them. Drawn in the browser on a canvas
(``f6_map.js``) so pointing at a dot shows its digit without a server round trip; a click
makes that digit the page's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import services
from digit_input import show_test_image
from lenet import plots
from lenet._atomic import write_atomic
from lenet.analysis.embed import (
    Embedding,
    cached_embedding,
    embedding,
    features_and_predictions,
)
from lenet.analysis.introspection import activations
from lenet.models import normalization_of
from lenet.serving import embeddings as bg
from pickers import LIVE

__all__ = ["f6_map_view"]

HERE = Path(__file__).parent
STATIC = HERE / "static"  # served at app/static/ (server.enableStaticServing)
SHEET = "mnist_test_digits.png"
POLL_S = 2.0

_MAP = st.components.v2.component(
    "lenet_f6_map",
    html='<div class="f6-root"><div class="f6-chips"></div><canvas></canvas>'
    '<div class="f6-tip"><canvas width="84" height="84"></canvas>'
    '<div class="f6-tip-text"></div></div></div>',
    css="""
.f6-root { position: relative; width: 100%; font-family: inherit; color: #1f2933; }
.f6-chips { display: flex; gap: 6px; flex-wrap: wrap; margin: 0 0 6px 0; align-items: center; }
.f6-chip { border: 2px solid var(--c); background: white; color: #1f2933; border-radius: 14px;
  min-width: 34px; padding: 1px 10px; font-size: 14px; cursor: pointer; font-weight: 600; }
.f6-chip::before { content: ""; display: inline-block; width: 9px; height: 9px;
  border-radius: 50%; background: var(--c); margin-right: 6px; }
.f6-chip.on { background: var(--c); color: white; }
.f6-root > canvas { display: block; border: 1px solid #e2e8f0; border-radius: 6px; }
.f6-tip { position: absolute; display: none; pointer-events: none; background: white;
  border: 1px solid #cbd5e1; border-radius: 6px; padding: 6px; box-shadow: 0 2px 8px #0002;
  font-size: 13px; width: 170px; }
.f6-tip canvas { display: block; width: 84px; height: 84px; image-rendering: pixelated;
  margin-bottom: 4px; }
""",
    js=(HERE / "f6_map.js").read_text(encoding="utf-8"),
)


@st.cache_resource(show_spinner=False)
def sheet_url() -> str:
    """The sheet of all test digits, written beside the pages once (it depends on the verified
    test set only), its address carrying its size and time so a browser keeps it until then."""
    path = STATIC / SHEET
    if not path.is_file():
        png = plots.digit_sheet_png(services.split("test").raw.numpy())
        STATIC.mkdir(exist_ok=True)
        write_atomic(path, lambda f: f.write(png), durable=False)
    stat = path.stat()
    return f"app/static/{SHEET}?v={stat.st_size}-{int(stat.st_mtime)}"


@st.cache_data(max_entries=8, show_spinner="Placing the 10,000 test digits by their F6 values…")
def _pca(run_id: str, epoch: int) -> tuple[Embedding, np.ndarray, np.ndarray]:
    """The PCA map of a checkpoint (kept in its run folder), the digits' F6 values (to place a
    new digit on a t-SNE map) and the class each is read as: one forward pass of the test set."""
    model = services.load_model(run_id, epoch)
    test = services.split("test", normalization_of(model.variant))
    feats, predicted = features_and_predictions(model, test.images)
    path = bg.embedding_path(services.store().get(run_id), epoch, "F6", "pca")
    return cached_embedding(model, test, path, "F6", "pca", feats=feats), feats, predicted


@st.cache_data(max_entries=8, show_spinner=False)
def _tsne(run_id: str, epoch: int) -> Embedding:
    return Embedding.from_file(bg.embedding_path(services.store().get(run_id), epoch))


def _picked(key: str) -> None:
    picked = st.session_state.get("fm_f6map", {}).get("picked")
    if picked is not None:
        show_test_image(key, int(picked))
        st.toast(f"Test image #{picked} is now the digit at the top of the page.")


def f6_map_view(model, run_id: str, epoch, x, digit_name: str, selected: int | None) -> None:
    """The map for the run's checkpoint ``epoch`` (live weights: PCA of them), the digit ``x``
    as a star. ``selected`` rings the test image the page shows, if it is one."""
    method = st.segmented_control(
        "Map",
        ["pca", "tsne"],
        default="pca",
        required=True,
        key="fm_f6_method",
        format_func={"pca": "PCA (immediate)", "tsne": "t-SNE (islands; ~1 min once)"}.get,
        help="PCA shows the plane along which the 84 F6 values spread most: distances are "
        "true, but classes overlap. t-SNE keeps each digit's nearest neighbours near, so "
        "classes form islands; distances between islands mean little.",
    )
    if epoch == LIVE:
        test = services.split("test", normalization_of(model.variant))
        feats, predicted = features_and_predictions(model, test.images)
        emb = embedding(model, test, feats=feats)
        if method == "tsne":
            st.info("t-SNE maps are made for saved epochs; this is PCA of the live weights.")
        shown = emb
    else:
        emb, feats, predicted = _pca(run_id, epoch)
        shown = emb
        if method == "tsne":
            shown = _tsne_or_wait(run_id, epoch) or emb
    new = shown.place(activations(model, x)["F6"][0].numpy(), feats)
    labels = services.split("test").labels.numpy()
    payload = plots.map_payload(shown.points, labels, predicted, new)
    payload.update(
        key=f"{run_id}/{epoch}/{shown.method}",
        sheet=sheet_url(),
        columns=plots.SHEET_COLUMNS,
        selected=selected,
        height=540,
    )
    _MAP(data=payload, key="fm_f6map", on_picked_change=lambda: _picked("fm"))
    _caption(shown, digit_name, epoch)


def _caption(emb: Embedding, digit_name: str, epoch) -> None:
    how = (
        f"PCA: the plane of the two directions along which the 84 F6 values vary most "
        f"({emb.explained:.0%} of their variance)"
        if emb.method == "pca"
        else "t-SNE of the 84 F6 values (neighbours kept near; the distance between islands "
        "means little)"
    )
    when = "the live weights" if epoch == LIVE else f"epoch {epoch}"
    star = (
        "placed by the same projection"
        if emb.method == "pca"
        else "placed among its 10 nearest test digits in F6"
    )
    st.caption(
        f"{how}, at {when}. Each dot is one of the 10,000 test digits, coloured by its true "
        f"class; point at one to see it, click to make it the page's digit. The ★ is "
        f"{digit_name}, {star}. Class chips fade the other classes. Across epochs (the sidebar's "
        "slider) the classes pull apart."
    )


def _tsne_or_wait(run_id: str, epoch: int) -> Embedding | None:
    run = services.store().get(run_id)
    state, message = bg.request_tsne(run, epoch), ""
    if state == bg.FAILED:
        state, message = bg.tsne_state(run, epoch)
    if state == bg.READY:
        return _tsne(run_id, epoch)
    if state == bg.FAILED:
        st.warning(f"The t-SNE map could not be made: {message}. Showing PCA.")
        return None
    _tsne_progress(run_id, epoch)
    return None


@st.fragment(run_every=POLL_S)
def _tsne_progress(run_id: str, epoch: int) -> None:
    run = services.store().get(run_id)
    state = bg.request_tsne(run, epoch)
    if state == bg.READY:
        st.rerun(scope="app")
    text = {
        bg.COMPUTING: "The t-SNE map of this epoch is being computed in the background "
        "(about a minute, once: it is kept with the run). PCA meanwhile.",
        bg.WAITING: "Another t-SNE map is being computed; this one starts right after it. "
        "PCA meanwhile.",
    }.get(state, "Starting the t-SNE map…")
    st.info(text, icon=":material/hourglass_top:")
