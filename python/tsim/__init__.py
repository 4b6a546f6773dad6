"""tsim - read tsim run directories into pandas and plot any column.

    import tsim
    r = tsim.load("out/wang2021_fig1")      # a Run: r.cells, r.metrics, ...
    r.cells.groupby("K").t_q9_positive.median()
    tsim.plot(r, y="train_loss", x="t", by="K")   # out/.../figures/*.png

Needs numpy and pandas (Debian: python3-pandas) and, for config.yaml, PyYAML
(python3-yaml); tsim.plot also needs matplotlib. Another python3 of the
same version (pyenv) finds Debian's packages too (_deps.py). See
docs/python.md.
"""
from ._deps import ensure as _ensure

_ensure()
from .run import Run, TsimWarning, load, read_yaml  # noqa: F401,E402
from .plotting import PlotRefused, plot, summarise  # noqa: F401,E402

__version__ = "0.1.0"
__all__ = ["load", "Run", "TsimWarning", "plot", "summarise", "PlotRefused", "read_yaml"]
