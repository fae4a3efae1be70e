"""AppTest: the pages that look inside a run open runs of networks between the three named
variants (the ladder's steps) as they open the named ones."""

import pytest

import app_utils
from lenet.runs import RunStore
from lenet.training import TrainConfig, train

NETWORKS = (
    "paper,output=linear",  # Table I's C3 and trainable subsampling, a linear output
    "classic,activation=scaled-tanh,inputs=paper",  # the paper's squash and pixel scale
    "classic,activation=relu,subsampling=trainable",
)
PAGES = ("feature_maps", "kernels", "predictions", "health")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    ids = {}
    for variant in NETWORKS:
        cfg = TrainConfig(variant=variant, train_subset=300, epochs=1, threads=1, init="paper")
        result = train(cfg, store=RunStore(root))
        assert result.status == "finished", result.message
        ids[variant] = result.run_id
    return root, ids


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("variant", NETWORKS)
def test_pages_open_a_run_of_a_composed_network(runs, use_runs, page, variant):
    root, ids = runs
    use_runs(root)
    at = app_utils.open_page(page, {"run": ids[variant]}, default_timeout=90).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shown = " ".join(str(e.value) for e in (*at.caption, *at.markdown, *at.selectbox))
    assert ids[variant] in shown  # the page is on that run
