"""Plotly figure builders shared by the dashboard pages and the notebooks.

One module per subject; everything public is re-exported here so callers write
``from lenet import plots; plots.loss_figure(...)``.
"""
from lenet.plots.style import COLORS, DIVERGING, base_layout
from lenet.plots.training import (accuracy_figure, architecture_figure, compare_figure,
                                  loss_figure, smooth)
