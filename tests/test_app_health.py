"""AppTest for the Health page, and the live health chart under the Train page's curves."""

import json
import shutil

import pytest

import app_utils
from lenet.runs import RunStore
from lenet.training import TrainConfig, train

HEALTH = "health"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Three runs: a short classic one with its health recorded; the same run as it would be
    had it been trained before records were kept; and one that blew up in its first steps."""
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    cfg = TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1)
    fine = train(cfg, store=store)
    assert fine.status == "finished"
    blew = train(
        TrainConfig(train_subset=640, epochs=1, batch_size=32, optimizer="sgd", lr=1e3,
                    schedule="constant", threads=1),
        store=store,
    )  # fmt: skip
    assert blew.status == "diverged"
    old = store.create(json.loads((store.get(fine.run_id).path / "config.json").read_text()))
    source = store.get(fine.run_id).path
    for folder in ("checkpoints", "snapshots"):
        shutil.copytree(source / folder, old.path / folder)
    for line in (source / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        event.pop("health", None)
        old.append(event)
    old.finish("finished")
    return root, {"fine": fine.run_id, "blew": blew.run_id, "old": old.id}


def charts(at) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def texts(at) -> str:
    return " ".join(
        str(e.value)
        for kind in ("info", "warning", "caption", "markdown")
        for e in getattr(at, kind)
    )


def open_health(run_id: str):
    return app_utils.open_page(HEALTH, {"run": run_id}, default_timeout=90).run()


def test_the_health_page_shows_a_runs_record_over_epochs(runs_dir, use_runs):
    root, ids = runs_dir
    use_runs(root)
    at = open_health(ids["fine"])
    assert not at.exception
    assert charts(at) == {"hl_epochs", "hl_during", "hl_acts", "hl_weights"}
    record = RunStore(root).get(ids["fine"]).health()[1]
    shown = {m.label: m.value for m in at.metric}
    assert shown == {
        f"{name} saturated": f"{100 * share:.1f} %"
        for name, share in record["shares"]["saturated"].items()
    }
    assert "saturated" in texts(at) and "|a| > 0.97 of ±1" in texts(at)
    assert at.query_params["epoch"] in ("1", ["1"])


def test_a_run_from_before_records_is_measured_from_its_checkpoints(runs_dir, use_runs):
    root, ids = runs_dir
    use_runs(root)
    run = RunStore(root).get(ids["old"])
    assert not (run.path / "health").exists()
    at = open_health(ids["old"])
    assert not at.exception
    assert {"hl_epochs", "hl_acts", "hl_weights"} <= charts(at)
    assert "Not recorded while training" in texts(at)
    assert sorted(p.name for p in (run.path / "health").iterdir()) == [
        "epoch_000.json", "epoch_001.json",
    ]  # fmt: skip


def test_a_run_that_blew_up_points_to_its_live_measurements(runs_dir, use_runs):
    root, ids = runs_dir
    use_runs(root)
    at = open_health(ids["blew"])
    assert not at.exception
    assert "hl_during" in charts(at)
    warning = " ".join(w.value for w in at.warning)
    assert "only the untrained network (epoch 0) has a record" in warning
    spike = [e for e in RunStore(root).get(ids["blew"]).events() if e["type"] == "batch"][-1]
    worst = max(spike["health"]["saturated"].items(), key=lambda kv: kv[1])
    assert f"{worst[0]} {100 * worst[1]:.0f} %" in warning


def test_without_a_trained_model_the_page_says_where_to_train(tmp_path, use_runs):
    use_runs(tmp_path)
    at = app_utils.open_page(HEALTH, default_timeout=90).run()
    assert not at.exception
    assert "No trained model yet" in texts(at) and "Train" in app_utils.links(at)


def test_the_train_page_shows_the_units_under_the_curves(runs_dir, use_runs):
    root, ids = runs_dir
    use_runs(root)
    at = app_utils.open_page("train", {"run": ids["fine"]}, default_timeout=90).run()
    assert not at.exception
    assert charts(at) == {"loss_done", "acc_done", "health_done"}
    assert "**Saturated units at the end:**" in texts(at)
    assert f"Health?run={ids['fine']}" in app_utils.links(at)
    at = app_utils.open_page("train", {"run": ids["old"]}, default_timeout=90).run()
    assert not at.exception and charts(at) == {"loss_done", "acc_done"}  # nothing to show
