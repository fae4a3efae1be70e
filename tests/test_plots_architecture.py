"""The architecture diagram: every label comes from the model's own summary."""

from lenet import plots
from lenet.models import build_model, summary


def test_architecture_figure_labels_every_layer_with_the_model_numbers():
    rows = summary(build_model("classic"))
    fig = plots.architecture_figure(rows)
    texts = " ".join(a.text for a in fig.layout.annotations)
    for r in rows:
        assert f"<b>{r['layer']}</b>" in texts and f"{r['parameters']:,} params" in texts
    assert "6@28×28" in texts and "16@5×5" in texts and "120 units" in texts and "1@32×32" in texts
    assert fig.layout.yaxis.scaleanchor == "x"  # squares stay square at any width
