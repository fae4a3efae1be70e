"""AppTest for the pages that look inside the network: Feature maps and Kernels."""

import io
import shutil
from dataclasses import asdict, replace

import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

import app_utils
from lenet.models import build_model
from lenet.runs import RunStore
from lenet.training import PRESETS, TrainConfig, train

FEATURE_MAPS, KERNELS = "feature_maps", "kernels"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """A runs folder with one trained classic run (epochs 0 and 1)."""
    root = tmp_path_factory.mktemp("runs")
    result = train(
        TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1), store=RunStore(root)
    )
    assert result.status == "finished"
    return root


def png(draw=None, size=(200, 200), mode="L", background=255) -> bytes:
    image = Image.new(mode, size, background)
    if draw:
        draw(ImageDraw.Draw(image))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


SEVEN = png(lambda d: d.line([(60, 40), (140, 40), (90, 170)], fill=0, width=14))


def texts(at) -> str:
    return " ".join(
        str(e.value) for kind in ("info", "warning", "error", "success") for e in getattr(at, kind)
    )


def charts(at) -> list[str]:
    return [c.key for c in at.get("plotly_chart")]


def unit_layer(at):
    """The unit panel's layer choice (its key changes when its widgets are renewed)."""
    return next(w for w in at.segmented_control if w.label == "Layer")


def unit_input(at, label: str):
    return next(w for w in at.number_input if w.label == label)


def open_page(name=FEATURE_MAPS, **query) -> AppTest:
    return app_utils.open_page(name, query, default_timeout=90).run()


def choose_mode(at, mode: str) -> AppTest:
    at.segmented_control[0].set_value(mode)
    return at.run()


# ------------------------------------------------------------------------------ Feature maps
def test_test_image_mode_shows_prediction_and_layers(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page()
    assert not at.exception
    assert at.metric[0].label == "The network says" and at.metric[0].value in "0123456789"
    assert {"fm_input", "fm_top3", "fm_C1"} <= set(charts(at))
    assert at.number_input[0].value == 0
    assert at.query_params["sample"] in ("0", ["0"])  # a reload shows the same digit
    for tab, chart in (
        ("S2 · 6×14×14", "fm_S2"),
        ("C3 · 16×10×10", "fm_C3"),
        ("S4 · 16×5×5", "fm_S4"),
        ("C5 · F6 · OUTPUT", "fm_output"),
        ("Why this class?", "fm_saliency"),
    ):
        at.session_state["fm_tab"] = tab
        at.run()
        assert not at.exception and chart in charts(at), tab
    at.segmented_control(key="fm_scale").set_value("shared").run()
    assert not at.exception


def test_a_units_arithmetic_is_written_out_for_every_layer(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page()
    assert "How did this unit get its value?" in [h.value for h in at.subheader]
    for layer in ("C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"):
        unit_layer(at).set_value(layer).run()
        assert not at.exception, layer
        assert {"fm_unit_figure", "fm_unit_activation"} <= set(charts(at)), layer
        written = " ".join(m.value for m in at.markdown)
        assert "Σ" in written or "of the 4 values" in written, layer
    unit_layer(at).set_value("C3").run()
    unit_input(at, "C3 map").set_value(15).run()
    unit_input(at, "row").set_value(9).run()
    assert not at.exception
    assert "(6 S2 maps × 5×5, times the kernel)" in " ".join(m.value for m in at.markdown)
    assert [unit_input(at, label).value for label in ("C3 map", "row")] == [15, 9]


def test_another_digit_starts_the_unit_panel_at_its_strongest_unit(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page()
    unit_layer(at).set_value("C1").run()
    for label in ("C1 map", "row", "col"):
        unit_input(at, label).set_value(0).run()  # the corner: background
    at.number_input[0].set_value(7).run()  # another test digit
    assert not at.exception
    run = next(p.name for p in runs_dir.iterdir() if RunStore.valid_id(p.name))
    model = RunStore(runs_dir).get(run).load_model()
    from lenet.analysis.introspection import activations
    from lenet.data import load_split

    c1 = activations(model, load_split("test").images[7:8])["C1"][0].abs()
    strongest = [int(i) for i in divmod(int(c1.argmax()), 28 * 28)]
    strongest = [strongest[0], *divmod(strongest[1], 28)]
    assert [unit_input(at, label).value for label in ("C1 map", "row", "col")] == strongest
    assert unit_layer(at).value == "C1"  # the layer stays as chosen


def test_sample_link_selects_that_test_image_and_bad_links_are_ignored(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page(sample="1234")
    assert not at.exception and at.number_input[0].value == 1234
    assert any("test image #1234" in c.value for c in at.caption)
    for bad in ("abc", "10000", "-3"):
        at = open_page(sample=bad)
        assert not at.exception and at.number_input[0].value == 0
        assert "does not exist" in texts(at), bad


def test_random_button_and_robustness_probe(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page()
    next(s for s in at.selectbox if s.label == "Random pick from").set_value(3)
    at.button(key=next(b.key for b in at.button if b.key.endswith("_random"))).click().run()
    assert not at.exception
    index = at.number_input[0].value
    from lenet.data import load_split

    assert int(load_split("test").labels[index]) == 3
    rotate = next(s for s in at.slider if s.label.startswith("Rotate"))
    rotate.set_value(45).run()
    assert not at.exception and any("changed by the probe" in c.value for c in at.caption)


def test_draw_mode_with_empty_canvas_asks_for_a_digit(runs_dir, use_runs):
    use_runs(runs_dir)
    at = choose_mode(open_page(), "Draw")
    assert not at.exception
    assert "Draw a digit first" in texts(at)
    assert not at.metric  # no prediction without a digit


def test_upload_mode_shows_preprocessing_and_prediction(runs_dir, use_runs):
    use_runs(runs_dir)
    at = choose_mode(open_page(), "Upload")
    assert "Upload a picture" in texts(at)
    at.file_uploader[0].set_value(("seven.png", SEVEN, "image/png")).run()
    assert not at.exception
    assert any("dark ink on light paper" in c.value for c in at.caption)
    assert at.metric and at.metric[0].value in "0123456789"
    assert len(at.get("image")) == 6  # the six preprocessing steps


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.png", b"", "0 bytes"),
        ("blank.png", png(), "No digit found"),
        ("text.png", b"just some text, not a picture\n" * 10, "not a readable picture"),
        ("cut.png", SEVEN[: len(SEVEN) // 2], "incomplete or damaged"),
    ],
)
def test_bad_uploads_get_a_clear_message(runs_dir, use_runs, name, data, message):
    use_runs(runs_dir)
    at = choose_mode(open_page(), "Upload")
    at.file_uploader[0].set_value((name, data, "image/png")).run()
    assert not at.exception
    assert message in texts(at)
    assert not at.metric


def test_no_model_offers_quick_training_and_reports_a_refusal(tmp_path, use_runs, monkeypatch):
    use_runs(tmp_path / "empty")
    monkeypatch.setenv("LENET_TEACHER_TOKEN", app_utils.TOKEN)
    at = open_page()
    assert not at.exception and "no trained model yet" in texts(at)
    from lenet.serving import ClassSettings, JobManager, QueueFull
    from services import job_manager

    # The teacher has set the class to watch only: the quick training is refused, and says why.
    teacher = app_utils.person(app_utils.TEACHER_ID, teacher=True)
    job_manager().set_settings(ClassSettings(watch_only=True), teacher)
    at.button(key="fm_quick").click().run()
    assert not at.exception and "watch only" in texts(at)
    assert not job_manager().jobs() and "quick_job" not in at.session_state

    def full(self, config, actor, lesson=None):
        raise QueueFull("You already have 1 run waiting or training (at most 1 each).")

    job_manager().set_settings(ClassSettings(), teacher)
    monkeypatch.setattr(JobManager, "start", full)
    at.button(key="fm_quick").click().run()
    assert not at.exception and "You already have 1 run waiting" in texts(at)


def test_quick_training_from_the_page(tmp_path, use_runs, monkeypatch):
    use_runs(tmp_path / "fresh")
    monkeypatch.setitem(PRESETS, "quick", replace(PRESETS["quick"], train_subset=500, threads=1))
    at = open_page()
    at.button(key="fm_quick").click().run()
    assert not at.exception
    job = at.session_state["quick_job"]
    from services import job_manager

    assert job_manager().wait(job, timeout=120) == "finished"
    at.run()  # the progress fragment now offers the trained model
    assert "quick model is trained" in texts(at)
    at.button(key="quick_reload").click().run()
    assert not at.exception and at.metric[0].label == "The network says"


def test_damaged_checkpoint_gives_its_message(runs_dir, tmp_path, use_runs):
    run = next(p for p in runs_dir.iterdir() if RunStore.valid_id(p.name))  # not .class/
    copy = shutil.copytree(run, tmp_path / "runs" / run.name)
    (copy / "checkpoints" / "epoch_001.pt").write_bytes(b"garbage")
    use_runs(tmp_path / "runs")
    at = open_page()
    assert not at.exception
    assert "could not be loaded" in texts(at)


def test_an_unknown_run_in_the_link_is_named_and_ignored(runs_dir, use_runs):
    use_runs(runs_dir)
    trained = next(p.name for p in runs_dir.iterdir() if RunStore.valid_id(p.name))
    for page in (FEATURE_MAPS, KERNELS):
        at = open_page(page, run="20990101-000000-abcdef")
        assert not at.exception
        assert "ignored run=20990101-000000-abcdef" in texts(at), page
        picker = at.selectbox(key=f"{'fm' if page == FEATURE_MAPS else 'kn'}_run")
        assert picker.value == trained  # the page still shows a model


def test_a_student_opens_their_own_newest_run_and_sees_whose_each_run_is(tmp_path, use_runs):
    """Ann's run finished first, Bob's after it: the pages open on Ann's run for Ann (not the
    newest of the class), and every run in the picker names its owner first."""
    use_runs(tmp_path)
    store = RunStore(tmp_path)
    ann = app_utils.person(app_utils.STUDENT_ID, "Ann")
    bob = app_utils.person("another-student-of-the-tests", "Bob")
    cfg = TrainConfig(train_subset=500, epochs=1, log_every=5, threads=1)
    runs = {}
    for who in (ann, bob):
        run = store.create(asdict(cfg), owner=who.owner())
        assert train(cfg, run=run).status == "finished"
        runs[who.name] = run.id
    for page, key in ((FEATURE_MAPS, "fm_run"), (KERNELS, "kn_run")):
        at = open_page(page)
        assert not at.exception
        picker = at.selectbox(key=key)
        assert picker.value == runs["Ann"], page
        assert sorted(o.split(" · ")[0] for o in picker.options) == ["Ann", "Bob"]


# ------------------------------------------------------------------------------ Kernels
def test_kernels_page_shows_kernels_table_and_evolution(runs_dir, use_runs):
    use_runs(runs_dir)
    at = open_page(KERNELS)
    assert not at.exception
    assert {"kn_c1", "kn_c3", "kn_table", "kn_evo_c1", "kn_evo_c3"} <= set(charts(at))
    assert any("Dense connections" in m.value for m in at.markdown)
    assert any("2 stored epochs" in c.value for c in at.caption)


def test_kernels_page_reuses_the_feature_maps_digit(runs_dir, use_runs):
    use_runs(runs_dir)
    at = app_utils.open_page(KERNELS, default_timeout=90)
    from lenet.data import load_split

    at.session_state["inspect_digit"] = {
        "raw28": load_split("test").raw[5].numpy(),
        "name": "your drawing",
    }
    at.run()
    assert not at.exception and at.toggle[0].value is True
    assert any(c.value.startswith("your drawing") for c in at.caption)
    at.toggle[0].set_value(False).run()
    assert not at.exception and at.number_input(key="kn_sample").value == 0


def test_kernels_page_with_the_paper_table(tmp_path, use_runs):
    store = RunStore(tmp_path / "paper")
    config = TrainConfig(variant="paper", init="paper", epochs=1)
    run = store.create(config.__dict__)
    for epoch in (0, 1):  # two checkpoints of the untrained network are enough to draw
        run.save_epoch(epoch, build_model("paper", "paper", seed=epoch), None, config, None)
    run.finish("finished")
    use_runs(tmp_path / "paper")
    at = open_page(KERNELS)
    assert not at.exception
    assert any("Table I" in m.value and "60 of the 96" in m.value for m in at.markdown)
