"""Plotly figure builders shared by the dashboard pages and the notebooks.

One module per subject; everything public is re-exported here so callers write
``from lenet import plots; plots.loss_figure(...)``.
"""

from lenet.plots.images import *  # noqa: F401,F403  digit grids: show_batch_images, visualize_test_predictions
from lenet.plots.maps import *  # noqa: F401,F403  digits, feature maps, kernels, saliency (see its __all__)
from lenet.plots.paper import *  # noqa: F401,F403  the paper page: RBF bitmaps, test error vs the paper
from lenet.plots.predictions import *  # noqa: F401,F403  confusion matrix, per-class accuracy, confidence
from lenet.plots.style import COLORS, DIVERGING, base_layout
from lenet.plots.training import (
    accuracy_figure,
    architecture_figure,
    compare_figure,
    compare_runs_figure,
    loss_figure,
    smooth,
)
