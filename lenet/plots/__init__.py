"""Plotly figure builders shared by the dashboard pages and the notebooks.

One module per subject; everything public is re-exported here so callers write
``from lenet import plots; plots.loss_figure(...)``.
"""

from lenet.plots.architecture import *  # noqa: F401,F403  LeNet-5 drawn like the paper's Figure 2
from lenet.plots.classroom import *  # noqa: F401,F403  the class: all curves, the sweep
from lenet.plots.digits import *  # noqa: F401,F403  one digit, its preprocessing, its top 3
from lenet.plots.embedding import *  # noqa: F401,F403  the F6 map: figure, browser payload
from lenet.plots.explain import *  # noqa: F401,F403  one unit's arithmetic, its activation
from lenet.plots.health import *  # noqa: F401,F403  saturated or dead units, histograms by epoch
from lenet.plots.images import *  # noqa: F401,F403  digit grids: show_batch_images, ...
from lenet.plots.kernels import *  # noqa: F401,F403  the kernels, Table I, their evolution
from lenet.plots.maps import *  # noqa: F401,F403  feature maps, 1-D layers, output, saliency
from lenet.plots.paper import *  # noqa: F401,F403  the paper page: RBF bitmaps, test error
from lenet.plots.predictions import *  # noqa: F401,F403  confusion matrix, per class, confidence
from lenet.plots.style import *  # noqa: F401,F403  palette, base_layout, mosaic, png_data_uri
from lenet.plots.training import *  # noqa: F401,F403  loss/accuracy curves, runs compared
