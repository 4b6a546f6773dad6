"""plotting.py - any column of a run against t or a parameter, grouped by
an axis: tsim.plot (and `make plot RUN=DIR Y=... X=... BY=...`).

The statistics are over the replicate axes (init seed, data seed, teacher
seed): a median line and an interquartile band per value of BY. Every other
grid axis that varies is a facet (one panel per value; a grid of panels for
two axes), never averaged over; more than two such axes, or more than
MAX_PANELS panels, is refused (PlotRefused) with what to fix.
"""
import itertools
import os
import re

import numpy as np
import pandas as pd

from . import schema
from .run import Run

MAX_PANELS = 24
MAX_LINES = 20
DECADES = 2  # log axes when positive data span more than this many decades


class PlotRefused(ValueError):
    """The plot asked for cannot be drawn as asked (the message says why and
    what to change)."""


def summarise(df, x, y, member="cell", interpolate=True):
    """Median and interquartile range of Y over the MEMBERS (cells) at each
    value of X, as a DataFrame with columns x, median, q25, q75, n (members
    contributing; quantiles are numpy's linear ones).

    Each member contributes from its first to its last row with a value
    (nothing is carried past its last row: a cell that stopped early drops
    out). With INTERPOLATE (X is a table column such as t), a member is
    also given a value at the X values of other members that fall between
    its own rows, linearly interpolated, so that one cell's extra row (its
    last, at the iteration it converged) does not become a point of its own.
    """
    d = df[[member, x, y]].copy()
    if isinstance(d[y].dtype, pd.api.extensions.ExtensionDtype):
        d[y] = d[y].to_numpy(dtype="float64", na_value=np.nan)
    d = d[d[y].notna()]
    if d.duplicated([member, x]).any():
        raise PlotRefused("%s: several rows per %s and %s; fix the other columns with where="
                          % (y, member, x))
    wide = d.pivot(index=x, columns=member, values=y).astype("float64")
    if interpolate and len(wide) > 1 and np.issubdtype(wide.index.dtype, np.number):
        wide = wide.interpolate(method="index", limit_area="inside")
    arr = wide.to_numpy()
    n = np.sum(~np.isnan(arr), axis=1)
    keep = n > 0
    arr = arr[keep]
    out = pd.DataFrame({x: wide.index[keep], "n": n[keep]})
    if len(arr):
        q25, med, q75 = np.nanpercentile(arr, [25, 50, 75], axis=1)
    else:
        q25 = med = q75 = np.zeros(0)
    out["median"], out["q25"], out["q75"] = med, q25, q75
    return out[[x, "median", "q25", "q75", "n"]]


def _log_spaced(values):
    """Positive values crowded towards the low end as log-spaced ones are
    (a quarter or more below the geometric middle), not linearly spaced."""
    u = np.unique(values)
    return len(u) > 2 and np.mean(u < np.sqrt(u.min() * u.max())) >= 0.25


def axis_scale(values, allow_symlog=False):
    """'log' when the finite values are positive and span more than DECADES
    decades; 'symlog' (ALLOW_SYMLOG, for x) when they start at 0 and the
    positive ones are log-spaced over more than DECADES decades (t of a run
    with train.log_points); else 'linear'."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "linear"
    pos = v[v > 0]
    if len(pos) == len(v) and pos.max() > 10 ** DECADES * pos.min():
        return "log"
    if allow_symlog and v.min() == 0 and len(pos) and pos.max() > 10 ** DECADES * pos.min() \
            and _log_spaced(pos):
        return "symlog"
    return "linear"


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return "%g" % v
    return str(v)


def _find_table(run, y):
    for t in ["cells", "metrics", "hessian", "teachers", "neurons", "spectrum"]:
        if t in run.tables and y in _columns(run, t):
            return t
    names = sorted({c for t in run.tables for c in _columns(run, t)} - {"cell"})
    raise PlotRefused("%s: no table has a column %r (columns: %s)" %
                      (run.dir, y, ", ".join(names)))


def _columns(run, table):
    if table == "cells":
        return list(run._cells_frame.columns)
    with open(os.path.join(run.dir, table + ".csv")) as f:
        return f.readline().strip().split(",")


def _distinct(series):
    return sorted(series.dropna().unique().tolist(), key=lambda v: (isinstance(v, str), v))


def prepare(run, y, x=None, by=None, where=None):
    """What plot() draws, without drawing: a dict with the table, the
    replicate axes, the facets, and per panel per line the summarise()
    statistics, and the axis scales. Raises PlotRefused."""
    if not isinstance(run, Run):
        run = Run(run)
    where = dict(where or {})
    table = _find_table(run, y)
    cols = _columns(run, table)
    params = set(run.param_names)
    if x is None:
        if "t" not in cols:
            raise PlotRefused("%s is one value per cell (%s.csv): give x, one of the grid "
                              "axes %s" % (y, table, ", ".join(run.grid_axes)))
        x = "t"
    for name, what in ((x, "x"), (by, "by")):
        if name is not None and name not in cols and name not in params:
            raise PlotRefused("%s=%r: neither a column of %s.csv (%s) nor a parameter (%s)" %
                              (what, name, table, ", ".join(cols), ", ".join(run.param_names)))
    for name in where:
        if name not in cols and name not in params:
            raise PlotRefused("where %s: neither a column of %s.csv nor a parameter" %
                              (name, table))
    row_dims = [c for c in ["t"] + schema.INDEX_COLUMNS.get(table, []) if c in cols]
    cell_where = {k: v for k, v in where.items() if k not in cols}
    wanted = [y] + [c for c in [x, by] + row_dims + list(where)
                    if c is not None and c in cols]
    wanted += [p for p in run.grid_params + [x, by] if p is not None and p in params]
    wanted = list(dict.fromkeys(c for c in wanted if c != "cell"))
    df = run.table(table, columns=wanted, cells=cell_where or None)
    for k, v in where.items():
        if k in cols:
            vals = v if isinstance(v, (list, tuple)) else [v]
            df = df[df[k].isin(vals)]
    if df.empty:
        raise PlotRefused("%s: no rows of %s.csv%s" % (run.dir, table, " where %s" % where
                                                        if where else ""))
    if df[y].notna().sum() == 0:
        raise PlotRefused("%s is empty in every row%s (an event that never happened, or a "
                          "quantity this model does not define)" %
                          (y, " where %s" % where if where else ""))
    used = {x, by}
    replicates = [a for a in run.seed_axes if a not in used and df[a].nunique() > 1]
    facets = [a for a in run.grid_axes
              if a not in used and a not in run.seed_axes and df[a].nunique() > 1]
    for dim in row_dims:
        if dim in used or df.groupby("cell")[dim].nunique().max() <= 1:
            continue
        if dim == "t":
            raise PlotRefused("%s has a row per logged t (%s.csv): plot it against x='t', or "
                              "fix t with where (make plot WHERE='t=1000')" % (y, table))
        facets.append(dim)
    shape = [len(_distinct(df[f])) for f in facets]
    if len(facets) > 2 or int(np.prod(shape)) > MAX_PANELS:
        raise PlotRefused(
            "%s against %s%s: %s vary too, which would make %d panels (at most 2 axes and %d "
            "panels); fix some with where (make plot WHERE='%s=%s') or pick one as by" %
            (y, x, " by %s" % by if by else "",
             ", ".join("%s (%d values)" % (f, s) for f, s in zip(facets, shape)),
             int(np.prod(shape)), MAX_PANELS, facets[0], _fmt(_distinct(df[facets[0]])[0])))
    by_values = _distinct(df[by]) if by else [None]
    if len(by_values) > MAX_LINES:
        raise PlotRefused("by=%s has %d values (at most %d lines per panel): fix some with "
                          "where" % (by, len(by_values), MAX_LINES))
    status = run.cells.set_index("cell")["status"]
    interpolate = x in cols
    panels = []
    facet_values = [_distinct(df[f]) for f in facets]
    for key in itertools.product(*facet_values):
        sub = df
        for f, v in zip(facets, key):
            sub = sub[sub[f] == v]
        lines = []
        for bv in by_values:
            part = sub if by is None else sub[sub[by] == bv]
            if part.empty:
                continue
            stats = summarise(part, x, y, interpolate=interpolate)
            cells = part["cell"].unique()
            empty = len(cells) - part.loc[part[y].notna(), "cell"].nunique()
            diverged = int((status.reindex(cells) == "diverged").sum())
            label = "%s=%s" % (by, _fmt(bv)) if by else y
            label += " (%d cell%s%s%s)" % (len(cells), "" if len(cells) == 1 else "s",
                                           ", %d diverged" % diverged if diverged else "",
                                           ", %d empty" % empty if empty else "")
            lines.append({"value": bv, "label": label, "stats": stats, "cells": len(cells)})
        title = ", ".join("%s=%s" % (f, _fmt(v)) for f, v in zip(facets, key))
        panels.append({"key": tuple(key), "title": title, "lines": lines})
    allx = np.concatenate([ln["stats"][x].to_numpy() for p in panels for ln in p["lines"]])
    ally = np.concatenate([ln["stats"][c].to_numpy() for p in panels for ln in p["lines"]
                           for c in ("median", "q25", "q75")])
    numeric_x = np.issubdtype(np.asarray(allx).dtype, np.number)
    return {"run": run, "table": table, "x": x, "y": y, "by": by, "where": where,
            "replicates": {a: df[a].nunique() for a in replicates}, "facets": facets,
            "facet_shape": shape, "panels": panels,
            "xscale": axis_scale(allx, allow_symlog=True) if numeric_x else "category",
            "yscale": axis_scale(ally)}


def _file_name(spec):
    parts = ["%s_vs_%s" % (spec["y"], spec["x"])]
    if spec["by"]:
        parts.append("by_%s" % spec["by"])
    for k, v in spec["where"].items():
        parts.append("%s%s" % (k, "-".join(map(_fmt, v)) if isinstance(v, (list, tuple))
                               else _fmt(v)))
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", "_".join(parts)) + ".png"


def title(spec):
    """The figure's title: the run directory's name (one config makes many
    runs), what is drawn, and over which replicates."""
    run = spec["run"]
    rep = ", ".join("%s (%d)" % (a, n) for a, n in spec["replicates"].items())
    sub = "median and interquartile range over %s" % rep if rep else "one cell per line"
    if spec["where"]:
        sub += "; " + ", ".join("%s=%s" % (k, v) for k, v in spec["where"].items())
    return "%s: %s against %s\n%s" % (os.path.basename(os.path.abspath(run.dir)),
                                        spec["y"], spec["x"], sub)


def draw(spec, path):
    """Draw what prepare() computed into the PNG at PATH."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    facets, shape = spec["facets"], spec["facet_shape"]
    if len(facets) == 2:
        nrows, ncols = shape
    else:
        npan = len(spec["panels"])
        ncols = min(npan, 4)
        nrows = -(-npan // ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(4.2 * ncols + 0.8, 3.2 * nrows + 0.9),
                            sharex=True, sharey=True, squeeze=False)
    x, y = spec["x"], spec["y"]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    cat = None
    if spec["xscale"] == "category":
        cat = sorted({v for p in spec["panels"] for ln in p["lines"] for v in ln["stats"][x]})
    few = max((len(ln["stats"]) for p in spec["panels"] for ln in p["lines"]), default=0) <= 30
    for i, panel in enumerate(spec["panels"]):
        ax = axs[i // ncols][i % ncols]
        for j, ln in enumerate(panel["lines"]):
            st = ln["stats"]
            xs = st[x].map(cat.index).to_numpy() if cat else st[x].to_numpy()
            c = colours[j % len(colours)]
            ax.plot(xs, st["median"], color=c, marker="o" if few else None, ms=3, lw=1.3,
                    label=ln["label"])
            if (st["n"] > 1).any():
                ax.fill_between(xs, st["q25"], st["q75"], color=c, alpha=0.25, lw=0)
        if panel["title"]:
            ax.set_title(panel["title"], fontsize=9)
        ax.grid(True, alpha=0.3)
        if spec["yscale"] == "log":
            ax.set_yscale("log")
        if spec["xscale"] in ("log", "symlog"):
            if spec["xscale"] == "symlog":
                pos = [v for p in spec["panels"] for ln in p["lines"] for v in ln["stats"][x]
                       if v > 0]
                ax.set_xscale("symlog", linthresh=min(pos))
            else:
                ax.set_xscale("log")
        if cat:
            ax.set_xticks(range(len(cat)))
            ax.set_xticklabels([_fmt(v) for v in cat])
        if i % ncols == 0:
            ax.set_ylabel(y)
        if i + ncols >= len(spec["panels"]):  # the lowest panel of its column
            ax.set_xlabel(x)
            ax.xaxis.set_tick_params(labelbottom=True)
        if panel["lines"]:
            ax.legend(fontsize=7)
    for k in range(len(spec["panels"]), nrows * ncols):
        axs[k // ncols][k % ncols].set_visible(False)
    fig.suptitle(title(spec), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(run, y, x=None, by=None, where=None, out=None, quiet=False):
    """Plot column Y of a run against X, one line per value of BY, into a
    PNG in RUN_DIR/figures/ (or OUT); prints and returns its path.

    run: a Run or a run directory. y: any column of any table (train_loss,
    par, eigenvalue, t_q9_positive, ...). x: 't' (the default for tables
    with t) or any parameter (eta, K, ...). by: a parameter or a row index
    (k, teacher, index), or None. where: {name: value or list} fixes
    parameters or columns (seed, K, k, t, ...).

    Line: the median over the replicate axes (seed, data_seed,
    teacher_seed) that vary; band: their interquartile range (summarise()).
    Other varying axes are facets, never averaged over: one panel per value,
    a grid for two; more is refused (PlotRefused). A cell contributes up to
    its last row. Axes are logarithmic where the data span more than
    DECADES decades (axis_scale())."""
    spec = prepare(run, y, x=x, by=by, where=where)
    if out is None:
        out = os.path.join(spec["run"].dir, "figures", _file_name(spec))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    draw(spec, out)
    if not quiet:
        print(out)
    return out
