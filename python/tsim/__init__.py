"""tsim - read tsim run directories into pandas.

    import tsim
    r = tsim.load("out/wang2021_fig1")      # a Run: r.cells, r.metrics, ...
    r.cells.groupby("K").t_q9_positive.median()

Needs numpy and pandas (Debian: python3-pandas) and, for config.yaml, PyYAML
(python3-yaml). Another python3 of the
same version (pyenv) finds Debian's packages too (_deps.py). See
docs/python.md.
"""
from ._deps import ensure as _ensure

_ensure()
from .run import Run, TsimWarning, load, read_yaml  # noqa: F401,E402

__version__ = "0.1.0"
__all__ = ["load", "Run", "TsimWarning", "read_yaml"]
