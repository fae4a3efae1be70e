"""AppTest for Our digits: the class's handwriting, who may delete what, and how well a run
reads it next to MNIST."""

import numpy as np
import pytest

import app_utils
from lenet.data import ClassDigits
from lenet.runs import RunStore
from lenet.serving import STUDENT, TEACHER, Participant
from lenet.training import TrainConfig, train

ME = Participant(app_utils.STUDENT_ID, "Student 1", STUDENT)
OTHER = Participant("someone-else-entirely-01", "Zoe", STUDENT)
TEACH = Participant(app_utils.TEACHER_ID, "Ms T", TEACHER)


def stroke(column: int) -> np.ndarray:
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, column : column + 4] = 255
    return pixels


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    result = train(
        TrainConfig(train_subset=1000, epochs=1, log_every=5, threads=1), store=RunStore(root)
    )
    assert result.status == "finished"
    return root


def open_page():
    return app_utils.open_page("our_digits", default_timeout=90).run()


def test_an_empty_collection_says_how_to_add_digits(tmp_path, use_runs):
    use_runs(tmp_path)
    at = open_page()
    assert not at.exception
    assert "No class digits yet" in " ".join(i.value for i in at.info)


def test_the_collection_and_how_well_a_run_reads_it(runs_dir, use_runs):
    use_runs(runs_dir)
    store = ClassDigits.for_runs(runs_dir)
    for d in store.list():
        store.delete(d.id, TEACH)
    for i in range(8):
        store.add(stroke(4 + 2 * i), 1, OTHER if i % 2 else TEACH)
    at = open_page()
    assert not at.exception
    assert "The collection · 8 digits" in [h.value for h in at.header]
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"MNIST test digits", "Our held-out digits", "All our digits"}
    split, digits = store.split()
    from lenet.analysis.predictions import predict

    model = RunStore(runs_dir).get(RunStore(runs_dir).list()[0].id).load_model()
    table = predict(model, split)
    right = (table["prediction"].to_numpy() == 1).mean() * 100
    assert metrics["All our digits"] == f"{right:.1f} %"  # the network's own reading
    assert "our_cm" in [c.key for c in at.get("plotly_chart")]
    at.pills(key="our_label").set_value(7).run()
    assert "No digit matches these filters." in " ".join(i.value for i in at.info)
    at.pills(key="our_label").set_value(None)
    at.selectbox(key="our_who").set_value("Zoe").run()
    assert not at.exception


def test_the_train_form_offers_the_class_digits_only_once_there_are_some(tmp_path, use_runs):
    use_runs(tmp_path)
    at = app_utils.open_page("train", default_timeout=90).run()
    assert not at.exception
    assert "cfg_class_share" not in [s.key for s in at.sidebar.select_slider]
    ClassDigits.for_runs(tmp_path).add(stroke(10), 1, TEACH)
    at.run()
    assert not at.exception
    share = at.sidebar.select_slider(key="cfg_class_share")
    assert share.value == 0.0 and share.label == "Class's own digits in training"
