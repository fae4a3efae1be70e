"""Training figures: what they draw comes from the data handed in, nothing typed by hand."""

import plotly.graph_objects as go

from lenet import plots
from lenet.runs.curves import curves_from_events

EVENTS = [
    {"type": "start", "steps_per_epoch": 10, "total_steps": 30},
    {"type": "batch", "epoch": 1, "step": 5, "loss": 2.0, "acc": 30.0},
    {"type": "lr", "epoch": 1, "step": 7, "lr": 0.1},
    {"type": "batch", "epoch": 1, "step": 10, "loss": 1.0, "acc": 60.0},
    {
        "type": "epoch",
        "epoch": 1,
        "step": 10,
        "test_loss": 0.8,
        "test_acc": 80.0,
        "test_top3": 95.0,
    },
]


def test_live_curves_are_valid_plotly_with_a_fixed_axis_and_lr_marks():
    c = curves_from_events(EVENTS)
    for build in (plots.loss_figure, plots.accuracy_figure):
        for curves in (c, curves_from_events([])):
            fig = build(
                curves.batches,
                curves.epochs,
                curves.steps_per_epoch,
                curves.lr_changes,
                x_max=curves.planned_epochs,
            )
            # built unvalidated for speed: the same spec must pass plotly's full validation
            assert go.Figure(fig.to_dict()).to_dict() == fig.to_dict()
        fig = build(c.batches, c.epochs, c.steps_per_epoch, c.lr_changes, x_max=c.planned_epochs)
        assert fig.layout.xaxis.range[1] >= 3 and fig.layout.uirevision == "keep"
        assert [a.text for a in fig.layout.annotations] == ["lr → 0.1"]
        assert fig.layout.shapes[0].x0 == 0.7  # step 7 of 10 per epoch
    loss = plots.loss_figure(c.batches, c.epochs, c.steps_per_epoch)
    assert [t.name for t in loss.data] == ["batch loss", "batch loss (smoothed)", "test loss"]
    assert list(loss.data[1].y) == plots.smooth([2.0, 1.0]) and list(loss.data[2].y) == [0.8]
    acc = plots.accuracy_figure(c.batches, c.epochs, c.steps_per_epoch)
    assert [t.name for t in acc.data] == ["train (smoothed)", "test top-1", "test top-3"]


def test_compare_runs_figure_draws_train_and_test_per_run():
    c = curves_from_events(EVENTS)
    empty = curves_from_events([])
    fig = plots.compare_runs_figure({"a": c, "b": c, "diverged": empty}, "acc")
    assert [t.name for t in fig.data] == ["a", "a · test", "b", "b · test"]
    assert [t.showlegend for t in fig.data] == [None, False, None, False]  # each run named once
    assert list(fig.data[1].y) == [80.0]
    assert fig.data[0].line.color != fig.data[2].line.color
    loss = plots.compare_runs_figure({"a": c}, "loss")
    assert list(loss.data[1].y) == [0.8]
    # the legend's lines below the curves add to the figure instead of squeezing the plot
    six = plots.compare_runs_figure({str(i): c for i in range(6)}, "loss")
    assert six.layout.height - six.layout.margin.b == loss.layout.height - loss.layout.margin.b
