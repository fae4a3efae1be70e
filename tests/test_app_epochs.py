"""AppTest for the epoch slider every inspection page shares, its play button, and the F6 map
tab of Feature maps."""

import numpy as np
import pytest

import app_utils
from lenet.runs import RunStore
from lenet.serving import embeddings as bg
from lenet.training import TrainConfig, train


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """One trained classic run with checkpoints for epochs 0, 1 and 2."""
    root = tmp_path_factory.mktemp("runs")
    result = train(
        TrainConfig(train_subset=1000, epochs=2, log_every=5, threads=1), store=RunStore(root)
    )
    assert result.status == "finished"
    return root


def open_page(name, **query):
    return app_utils.open_page(name, query, default_timeout=90).run()


def slider(at, key):
    return at.sidebar.select_slider(key=key)


def test_one_epoch_choice_is_shared_by_the_pages_and_kept_in_the_address(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page("feature_maps")
    assert not at.exception
    assert slider(at, "fm_epoch").options == ["0 (untrained)", "1", "2"]
    assert slider(at, "fm_epoch").value == 2  # the newest, first
    slider(at, "fm_epoch").set_value(1).run()
    assert at.query_params["epoch"] in ("1", ["1"])
    assert any("epoch 1" in c.value for c in at.caption)
    at.switch_page("views/kernels.py").run()
    assert not at.exception and slider(at, "kn_epoch").value == 1
    at.switch_page("views/predictions.py").run()
    assert not at.exception and slider(at, "pred_epoch").value == 1
    slider(at, "pred_epoch").set_value(0).run()
    at.switch_page("views/feature_maps.py").run()
    assert slider(at, "fm_epoch").value == 0


def test_an_epoch_in_the_address_opens_the_pages_on_it_and_a_bad_one_is_ignored(runs_dir, use_runs):
    use_runs(runs_dir)
    run_id = RunStore(runs_dir).list()[0].id
    at = open_page("kernels", run=run_id, epoch="1")
    assert not at.exception and slider(at, "kn_epoch").value == 1
    at = open_page("feature_maps", run=run_id, epoch="7")
    assert not at.exception and slider(at, "fm_epoch").value == 2


def test_play_replays_the_epochs_from_0_to_the_last_and_stops(runs_dir, use_runs, monkeypatch):
    use_runs(runs_dir)
    at = open_page("kernels")
    import streamlit as st

    import pickers

    shown = []  # the epoch on screen each time the page waits before the next one
    real_sleep, step = pickers.time.sleep, 0.0123  # the play's own pause, told from others

    def sleep(seconds):
        if seconds == step:
            shown.append(st.session_state.view_epoch)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(pickers, "PLAY_STEP_S", step)
    monkeypatch.setattr(pickers.time, "sleep", sleep)
    at.sidebar.button(key="kn_play").click()
    at.run()  # each epoch is a script run of its own: the app test follows them to the end
    assert not at.exception
    assert shown == [0, 1] and slider(at, "kn_epoch").value == 2
    assert "kn_play" in [b.key for b in at.sidebar.button]  # Play again, not Pause


def test_the_f6_map_tab_draws_the_map_and_a_click_picks_that_digit(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page("feature_maps")
    at.session_state["fm_tab"] = "F6 map"
    at.run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "Each dot is one of the 10,000 test digits" in captions
    assert "% of their variance" in captions and "test image #0" in captions
    store = RunStore(runs_dir)
    run = store.get(store.list()[0].id)
    assert bg.embedding_path(run, 2, "F6", "pca").is_file()  # kept with the checkpoint
    # The t-SNE map: already made (as the background process would), it is shown instead.
    from lenet.analysis.embed import Embedding

    pca = Embedding.from_file(bg.embedding_path(run, 2, "F6", "pca"))
    tsne = Embedding("tsne", "F6", pca.points[:, ::-1].copy(), pca.mean, pca.basis * 0, np.nan)
    bg.embedding_path(run, 2, "F6", "tsne").write_bytes(tsne.to_bytes())
    at.segmented_control(key="fm_f6_method").set_value("tsne").run()
    assert not at.exception
    assert "placed among its 10 nearest test digits" in " ".join(c.value for c in at.caption)


def test_predictions_show_when_each_digit_was_learned_and_filter_by_it(runs_dir, use_runs):
    from lenet.analysis.history import learning_history
    from lenet.data import load_split

    use_runs(runs_dir)
    store = RunStore(runs_dir)
    run = store.get(store.list()[0].id)
    history = learning_history(run, load_split("test"))
    at = open_page("predictions")
    assert not at.exception
    assert "When each digit was learned" in [h.value for h in at.subheader]
    assert "pred_learned" in [c.key for c in at.get("plotly_chart")]
    written = " ".join(m.value for m in at.markdown)
    assert f"**{history.learned_per_epoch()[0]:,}** were right at epoch 0" in written
    forgotten = int((history.times_forgotten > 0).sum())
    assert f"**{forgotten:,}** were right at one epoch and wrong at a later one" in written
    assert forgotten > 0  # three checkpoints of a short run: some digits flip back
    at.segmented_control(key="show").set_value("forgotten").run()
    assert not at.exception
    assert f"of {forgotten:,}," in " ".join(c.value for c in at.caption)
    at.segmented_control(key="show").set_value("all").run()
    at.selectbox(key="learned").set_value(1).run()
    at.selectbox(key="sort").set_value("learned").run()
    assert not at.exception
    learned_1 = history.learned_per_epoch()[1]
    assert f"of {learned_1:,}," in " ".join(c.value for c in at.caption)
    slider(at, "pred_epoch").set_value(0).run()  # at epoch 0 nothing is learned at epoch 1 yet
    assert not at.exception and at.selectbox(key="learned").value == "any"
