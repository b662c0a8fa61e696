"""One look for every plot: pyqtgraph's global options are set here, once, when any panel is imported.

Light plots (white background, black text) on every tab, crisp row-major images, the same pens for
the same quantities wherever they appear.
"""

from __future__ import annotations

import pyqtgraph as pg

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")

# one colour per quantity, wherever it is drawn
COLOURS = {
    "total": "#1f77b4",  # −ELBO
    "rec": "#ff7f0e",  # reconstruction
    "kl": "#2ca02c",  # KL
    "test": "#d62728",  # held-out −ELBO
    "val": "#9467bd",  # validation −ELBO
    "train_points": (31, 119, 180, 150),
    "test_points": (214, 39, 40, 190),
    "active": (44, 160, 44, 220),
    "inactive": (150, 150, 150, 200),
}
GRID_ALPHA = 0.3


def style_plot(plot: pg.PlotWidget | pg.PlotItem, title: str = "", left: str = "", bottom: str = "") -> None:
    """Grid, title and axis labels in the common style."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    item.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    if title:
        item.setTitle(title)
    if left:
        item.setLabel("left", left)
    if bottom:
        item.setLabel("bottom", bottom)
