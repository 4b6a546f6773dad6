#!/usr/bin/python3
"""plot_run.py - figures and a summary of one tsim run directory.

    /usr/bin/python3 analysis/plot_run.py OUTDIR [--population DIR] [--fit-window T0,T1]

reads OUTDIR/{manifest.json, cells.csv, metrics.csv, ...} and writes
OUTDIR/figures/*.png and *.pdf and OUTDIR/summary.md (analysis/README.md
lists the figures). The run's config (manifest.json) picks the paper
(`family`): Wang & Abernethy (2021), "Understanding how over-parametrization
leads to acceleration: a case of learning a single teacher neuron" (this
file), Xu & Du (xu_du.py), Zhou, Ge & Jin (zhou.py), Martin, Bach & Biroli
(martin.py); Hessian spectra (hessian.py) are added when the run has them.
Needs only the standard library, numpy and matplotlib.

Grouping: cells that differ only in a replicate axis (init seed, data seed,
teacher seed) form one group; every other grid axis (K, eta, C, n, d, ...)
is a parameter. Diverged cells are left out of the means, bands and entry-time
statistics and counted instead. An empty CSV field (an event that never
happened) reads as NaN.
"""
import argparse
import csv
import json
import math
import os
import sys
import warnings

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)

REPLICATE_AXES = ("seed", "data_seed", "teacher_seed")
# how a cell can end (cells.csv status; tsim's tally counts them in this order)
FINISHED = ("converged", "max_iterations", "reached_T", "evaluated", "diverged")
PAPER = "Wang & Abernethy (2021)"
MAX_ROWS_PER_PAGE = 5      # fig1: settings (eta, C, ...) per image
MAX_PLOT_POINTS = 4000     # points per drawn curve; longer series are thinned
AXIS_LABEL = {"eta": "η", "K": "K", "C": "C", "n": "n", "d": "d",
              "teacher_norm": "‖w*‖", "init_scale": "init scale",
              "loss_scale": "loss scale", "n_test": "n_test"}

plt.rcParams.update({"font.size": 9, "axes.titlesize": 9.5, "legend.fontsize": 8,
                     "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 110})


# ----------------------------------------------------------------- reading

def to_float(s):
    """A CSV field as a float; '' (never happened) and junk give NaN."""
    try:
        return float(s)
    except ValueError:
        return math.nan


def axis_value(s):
    """A grid-axis field: a float when numeric (so it sorts), else the text."""
    try:
        return float(s)
    except ValueError:
        return s


def fmt(v):
    """Compact text of an axis value or a statistic."""
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    if 1e3 <= abs(v) < 1e9:      # iteration counts: no exponent
        return "%.0f" % v
    return "%.4g" % v


def _fill_empty(lines):
    """Empty CSV fields as 'nan' so numpy's fast loadtxt can parse them."""
    for line in lines:
        if ",," in line or line.endswith(",\n") or line.endswith(","):
            line = line.replace(",,", ",nan,").replace(",,", ",nan,")
            if line.endswith(",\n"):
                line = line[:-1] + "nan\n"
            elif line.endswith(","):
                line += "nan"
        yield line


def read_numeric_csv(path, names, cells=None):
    """Columns `names` of a numeric CSV with a header, as {name: array}, rows
    sorted by (cell, t[, k]). With `cells`, only rows of those cell ids are
    parsed (a cheap prefix test, so a huge neurons.csv costs little)."""
    with open(path, "r") as f:
        header = f.readline().strip().split(",")
        missing = [n for n in names if n not in header]
        if missing:
            raise KeyError("%s: no column %s" % (path, ", ".join(missing)))
        lines = f
        if cells is not None:
            prefixes = tuple("%d," % c for c in sorted(cells))
            lines = (line for line in f if line.startswith(prefixes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input file"
            data = np.loadtxt(_fill_empty(lines), delimiter=",", ndmin=2,
                              usecols=[header.index(n) for n in names])
    if data.shape[0] == 0:
        data = np.zeros((0, len(names)))
    cols = {n: data[:, i] for i, n in enumerate(names)}
    keys = [cols[n] for n in ("k", "t", "cell") if n in cols]
    order = np.lexsort(keys)
    return {n: a[order] for n, a in cols.items()}


def cell_slices(cols):
    """{cell id: slice of its rows} for a table sorted by cell."""
    if len(cols["cell"]) == 0:
        return {}
    ids, first = np.unique(cols["cell"], return_index=True)
    ends = list(first[1:]) + [len(cols["cell"])]
    return {int(c): slice(int(a), int(b)) for c, a, b in zip(ids, first, ends)}


class Run:
    """One run directory: the manifest, the cell table and the groups."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.notes = []          # what was skipped and why (for summary.md)
        mpath = os.path.join(outdir, "manifest.json")
        try:
            with open(mpath) as f:
                self.manifest = json.load(f)
        except (OSError, ValueError) as e:
            self.manifest = {}
            self.notes.append("manifest.json unreadable (%s)" % e)
        self.config = self.manifest.get("config", {})
        try:
            self.log_spaced = int(self.config.get("train", {}).get("log_points", 0) or 0) > 0
        except (TypeError, ValueError):
            self.log_spaced = False
        # titles name the run directory (one config makes many runs)
        self.name = os.path.basename(os.path.abspath(outdir))
        self.config_name = self.manifest.get("config", {}).get("name") or "?"
        with open(os.path.join(outdir, "cells.csv"), newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows = [r for r in reader if r]
        if "status" not in header or "K" not in header:
            raise ValueError("cells.csv: no 'status' or 'K' column")
        self.axes = header[1:header.index("status")]
        col = {name: [r[i] for r in rows] for i, name in enumerate(header)}
        # a column empty in every row is a key no cell reads (n of a
        # population run, eta of a flow): not a parameter of the groups
        self.params = [a for a in self.axes if a not in REPLICATE_AXES
                       and any(v != "" for v in col[a])]
        self.cell = np.array([int(v) for v in col["cell"]], dtype=np.int64)
        self.status = np.array(col["status"])
        self.value = {a: [axis_value(v) for v in col[a]] for a in self.axes}
        self.num = {}
        for name in ("K", "eta", "C", "iterations", "t_q9_positive", "t_lemma1",
                     "t_gamma", "t_gamma_bound", "final_train_loss", "final_dist"):
            if name in col:
                self.num[name] = np.array([to_float(v) for v in col[name]])
        self.K = self.num["K"].astype(np.int64)
        self.diverged = self.status == "diverged"
        self.finished = np.isin(self.status, FINISHED)
        # the parameter tuple of each cell (replicates dropped) -> its group
        self.key = [tuple(self.value[a][i] for a in self.params) for i in range(len(rows))]
        self.groups = {}
        for i, k in enumerate(self.key):
            self.groups.setdefault(k, []).append(i)
        self.Ks = sorted(set(int(k) for k in self.K))
        self.metrics = None
        self.metric_rows = {}

    # ---- groups and settings

    def sorted_keys(self, keys):
        return sorted(keys, key=lambda k: tuple((isinstance(v, str), v) for v in k))

    def setting(self, i, drop=("K",)):
        """Cell i's parameters other than `drop`, as a tuple of (axis, value)."""
        return tuple((a, self.value[a][i]) for a in self.params if a not in drop)

    def settings(self, drop=("K",)):
        """The distinct parameter combinations other than `drop`, sorted, each
        with its cell indices."""
        out = {}
        for i in range(len(self.cell)):
            out.setdefault(self.setting(i, drop), []).append(i)
        return [(s, out[s]) for s in sorted(
            out, key=lambda s: tuple((isinstance(v, str), v) for _, v in s))]

    def varying(self, drop=("K",)):
        """Parameter axes (other than `drop`) that take more than one value."""
        return [a for a in self.params if a not in drop and len(set(self.value[a])) > 1]

    def unique(self, axis):
        return sorted(set(self.value[axis])) if axis in self.value else []

    def setting_text(self, setting, only=None):
        """'η = 0.001, C = 1' for the axes in `only` (default: all of them)."""
        parts = ["%s = %s" % (AXIS_LABEL.get(a, a), fmt(v)) for a, v in setting
                 if (only is None or a in only) and v != ""]
        return ", ".join(parts)

    def reference_setting(self, cells_with_data):
        """The (eta, C, ...) setting to show one seed of in figs 2 and 3: the
        paper's (eta = 1e-3, C = 1) if present, else the nearest one (in log),
        among settings with a non-diverged cell that has data."""
        best = None
        for s, idx in self.settings():
            if not any(not self.diverged[i] and int(self.cell[i]) in cells_with_data for i in idx):
                continue
            d = dict(s)
            score = 0.0
            for a, ref in (("eta", 1e-3), ("C", 1.0)):
                v = d.get(a)
                if isinstance(v, float) and v > 0:
                    score += abs(math.log10(v / ref))
            if best is None or score < best[0]:
                best = (score, s, idx)
        return (best[1], best[2]) if best else (None, [])

    def pick_cells(self, idx, cells_with_data):
        """{K: the first non-diverged cell (lowest cell id: lowest seed) with
        that K and rows in CELLS_WITH_DATA}, for the Ks that have one."""
        chosen = {}
        for K in self.Ks:
            for i in sorted(idx, key=lambda i: self.cell[i]):
                if self.K[i] == K and not self.diverged[i] and int(self.cell[i]) in cells_with_data:
                    chosen[K] = i
                    break
        return chosen

    # ---- tables

    def load_metrics(self):
        path = os.path.join(self.outdir, "metrics.csv")
        if not os.path.exists(path):
            self.notes.append("metrics.csv absent: fig1_wang skipped")
            return False
        self.metrics = read_numeric_csv(
            path, ["cell", "t", "train_loss", "test_loss", "dist", "q9"])
        self.metric_rows = cell_slices(self.metrics)
        return True

    def load_neurons(self, cells):
        path = os.path.join(self.outdir, "neurons.csv")
        if not os.path.exists(path):
            return None
        cols = read_numeric_csv(path, ["cell", "t", "k", "par", "perp_norm", "norm",
                                       "comp_A", "comp_B", "comp_C", "comp_D"], cells=cells)
        out = {}
        for c, sl in cell_slices(cols).items():
            t = cols["t"][sl]
            k = cols["k"][sl].astype(np.int64)
            ts, ti = np.unique(t, return_inverse=True)
            K = int(k.max()) + 1
            d = {"t": ts}
            for name in ("par", "perp_norm", "norm", "comp_A", "comp_B", "comp_C", "comp_D"):
                m = np.full((len(ts), K), np.nan)
                m[ti, k] = cols[name][sl]
                d[name] = m
            out[c] = d
        return out

    def series(self, idx, name):
        """Common t axis and a (cells x t) matrix of metric `name` for the
        cells idx (NaN where a cell has no row). A converged cell holds its
        last value after it stopped, so it stays in the mean."""
        per = []
        for i in idx:
            sl = self.metric_rows.get(int(self.cell[i]))
            if sl is not None:
                per.append((i, self.metrics["t"][sl], self.metrics[name][sl]))
        if not per:
            return np.zeros(0), np.zeros((0, 0))
        t = np.unique(np.concatenate([p[1] for p in per]))
        v = np.full((len(per), len(t)), np.nan)
        for row, (i, tc, vc) in enumerate(per):
            if len(tc) == 0:
                continue
            # within the cell's own range, interpolate at the other cells' t
            # (a cell logs its last iteration off the common schedule)
            lo, hi = np.searchsorted(t, tc[0]), np.searchsorted(t, tc[-1], side="right")
            ok = np.isfinite(vc)
            if np.all(ok):
                v[row, lo:hi] = np.interp(t[lo:hi], tc, vc)
            else:
                v[row, np.searchsorted(t, tc)] = vc
            if self.status[i] == "converged":
                v[row, hi:] = vc[-1]
        return t, v


# ------------------------------------------------------------------ helpers

def load_table(run, fname, names):
    """Columns `names` of OUTDIR/fname as {name: array} sorted by cell, t
    (and index/k), with {cell: slice}; None when the file is absent."""
    path = os.path.join(run.outdir, fname)
    if not os.path.exists(path):
        return None, {}
    cols = read_numeric_csv(path, names)
    return cols, cell_slices(cols)


def loglog_fit(t, v, window):
    """Least-squares slope of log v against log t over the points with
    window[0] <= t <= window[1], t > 0 and v > 0: (slope, number of points);
    NaN with fewer than 3 points."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    ok = (t >= window[0]) & (t <= window[1]) & (t > 0) & (v > 0) & np.isfinite(v)
    if np.sum(ok) < 3:
        return math.nan, int(np.sum(ok))
    x, y = np.log(t[ok]), np.log(v[ok])
    return float(np.polyfit(x, y, 1)[0]), int(np.sum(ok))


def config_get(config, path, default=None):
    """config['a']['b'] for path 'a.b', or default."""
    node = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def cell_param(run, i, axis, config_path, default=None):
    """Cell i's value of a grid axis, or the config's scalar when it is not
    a grid axis of this run."""
    if axis in run.value:
        return run.value[axis][i]
    v = config_get(run.config, config_path, default)
    return v[0] if isinstance(v, list) and v else v


def k_colors(Ks):
    cmap = plt.get_cmap("tab10") if len(Ks) <= 10 else plt.get_cmap("viridis")
    n = max(len(Ks) - 1, 1)
    return {K: (cmap(j) if len(Ks) <= 10 else cmap(j / n)) for j, K in enumerate(Ks)}


def thin(n):
    """Indices of at most MAX_PLOT_POINTS of n points (first and last kept)."""
    if n <= MAX_PLOT_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_PLOT_POINTS).astype(np.int64))


def positive(a):
    a = np.array(a, dtype=float)
    a[~(a > 0)] = np.nan
    return a


def nanstats(v):
    """Mean, min, max over axis 0, NaN (no warning) where a column is all NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(v, axis=0), np.nanmin(v, axis=0), np.nanmax(v, axis=0)


def plain_log_ticks(axis, values=None):
    """Readable log-axis ticks. With `values` (few grid values on x): a tick
    at each, as a plain number. Otherwise, when the axis spans less than two
    decades (the default then labels one power of ten or none): ticks at
    1, 2, 5 x 10^j, as plain numbers."""
    fmtr = matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v)
    if values is not None:
        values = [v for v in values if isinstance(v, float) and v > 0]
        if not values or len(values) > 12:
            return
        axis.set_major_locator(matplotlib.ticker.FixedLocator(values))
    else:
        lo, hi = axis.get_view_interval()
        if not (lo > 0 and hi > lo) or math.log10(hi / lo) >= 2:
            return
        subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) >= 0.7 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
        axis.set_major_locator(matplotlib.ticker.LogLocator(10, subs=subs))
    axis.set_major_formatter(fmtr)
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def t_axis(ax, run):
    """The iteration axis: linear as in the paper, but symmetric-log when the
    run logged log-spaced points (train.log_points), whose early part a linear
    axis would squeeze into one pixel column."""
    if run.log_spaced:
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.3)
        ax.set_xlim(left=0)
        ax.set_xlabel("iteration t (symlog: the run logged log-spaced points)")
    else:
        ax.set_xlabel("iteration t")


def save(fig, figdir, stem, written):
    """Lay out and write stem.png and stem.pdf.
    tight_layout once, not bbox_inches='tight' per file: log axes make every
    layout pass slow."""
    fig.tight_layout(h_pad=1.2)
    for ext in ("png", "pdf"):
        path = os.path.join(figdir, "%s.%s" % (stem, ext))
        fig.savefig(path)
        written.append(path)
    plt.close(fig)


def suptitle(fig, text):
    """A (two-line) title 0.06 in below the top edge (tight_layout keeps room)."""
    fig.suptitle(text, y=1.0 - 0.06 / fig.get_figheight(), va="top")


def legend(ax, **kw):
    """A legend only when something is labelled (no matplotlib warning)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(framealpha=0.85, **kw)


def empty_note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            color="0.4", fontsize=9, wrap=True)


def run_title(run, what, extra="", paper=PAPER):
    s = "%s  %s - run '%s'" % (paper, what, run.name)
    return s + ("\n" + extra if extra else "")


# ------------------------------------------------------------------- fig 1

FIG1_PANELS = (  # (column, title, y label, log y); OBJ: "(2)" or "(13)"
    ("train_loss", "(a) Obj. OBJ on training data", r"$f(W_t)$, training data", True),
    ("test_loss", "(a) Obj. OBJ on testing data", r"$f(W_t)$, test data", True),
    ("dist", r"(b) dist$(W_t, w^*)$ vs. $t$", r"dist$(W_t, w^*)$", True),
    ("q9", r"(c) quantity (9) over $t$, $V = w^* q_t^\top/\sqrt{C} - W_t$",
     r"$\mathrm{vec}(V)^\top\,\nabla^2 f(W_t)\,\mathrm{vec}(V)$", False),
)


def fig1(run, figdir, written):
    colors = k_colors(run.Ks)
    settings = run.settings()
    vary = run.varying()
    Cs = run.unique("C")
    obj = "(2)" if Cs in ([], [1.0]) else "(13)"
    pages = [settings[i:i + MAX_ROWS_PER_PAGE]
             for i in range(0, len(settings), MAX_ROWS_PER_PAGE)]
    for p, page in enumerate(pages):
        nrow = len(page)
        fig, axes = plt.subplots(nrow, 4, figsize=(17, 3.5 * nrow + 0.9), squeeze=False)
        for r, (setting, idx) in enumerate(page):
            stext = run.setting_text(setting, vary)
            byK = {}
            for i in idx:
                byK.setdefault(int(run.K[i]), []).append(i)
            entry, tmax = {}, 0.0
            for c, (name, title, ylabel, logy) in enumerate(FIG1_PANELS):
                ax = axes[r][c]
                drawn = False
                for K in sorted(byK):
                    cells = byK[K]
                    good = [i for i in cells if not run.diverged[i]]
                    ndiv = len(cells) - len(good)
                    nconv = int(np.sum(run.status[cells] == "converged"))
                    label = "K = %d (%d seed%s" % (K, len(cells), "" if len(cells) == 1 else "s")
                    if nconv:
                        label += "; %d converged" % nconv
                    label += "; %d diverged, not shown)" % ndiv if ndiv else ")"
                    t, v = run.series(good, name)
                    if len(t) == 0 or np.all(np.isnan(v)):
                        ax.plot([], [], color=colors[K], label=label)
                        continue
                    tmax = max(tmax, float(t[-1]))
                    mean, lo, hi = nanstats(v)
                    if logy:
                        mean, lo, hi = positive(mean), positive(lo), positive(hi)
                    s = thin(len(t))
                    ax.fill_between(t[s], lo[s], hi[s], color=colors[K], alpha=0.22, lw=0)
                    ax.plot(t[s], mean[s], color=colors[K], lw=1.5, label=label)
                    drawn = True
                    if name == "q9":
                        tq = run.num["t_q9_positive"][good]
                        tq = tq[np.isfinite(tq)]
                        if len(tq):
                            entry[K] = float(np.median(tq))
                title = title.replace("OBJ", obj)
                if not drawn:
                    alldiv = all(run.diverged[i] for i in idx)
                    empty_note(ax, "every cell diverged" if alldiv else
                               "no test data (n_test = 0)" if name == "test_loss" else "no data")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    ax.set_title(title + ("\n" + stext if stext else ""))
                    ax.set_ylabel(ylabel)
                    ax.set_xlabel("iteration t")
                    continue
                if logy:
                    ax.set_yscale("log")
                    plain_log_ticks(ax.yaxis)
                if name == "q9":
                    ax.axhline(0.0, color="k", lw=0.8)
                    for K, tq in entry.items():
                        ax.axvline(tq, color=colors[K], lw=0.8, ls=":")
                    # large steps enter within a few iterations: zoom on the entry
                    # (the paper's App. F Fig. 7 also gives each step size its own t axis)
                    if entry and 8 * max(entry.values()) < 0.8 * tmax:
                        xmax = 8 * max(entry.values())
                        ax.set_xlim(-0.02 * xmax, xmax)
                        title += "\n(zoomed: t <= %s)" % fmt(xmax)
                ax.set_title(title + ("\n" + stext if stext else ""))
                if name == "q9" and entry:  # linear up to the entry, as App. F Fig. 7,
                    ax.set_xlabel("iteration t")  # even for log-spaced rows
                else:
                    t_axis(ax, run)
                ax.set_ylabel(ylabel)
            legend(axes[r][0], loc="best")
            if entry:
                h, = axes[r][3].plot([], [], color="0.3", lw=0.8, ls=":")
                axes[r][3].legend([h], ["median first t with (9) > 0"], loc="best",
                                  framealpha=0.85)
        common = run.setting_text(settings[0][0], [a for a in run.params
                                                   if a != "K" and a not in vary])
        page_note = "  (page %d of %d)" % (p + 1, len(pages)) if len(pages) > 1 else ""
        suptitle(fig, run_title(run, "Fig. 1 (ICLR and ACML): training dynamics per K" + page_note,
                               "line: mean over seeds, band: min-max over seeds"
                               + ("; " + common if common else "")))
        save(fig, figdir, "fig1_wang" if p == 0 else "fig1_wang_p%d" % (p + 1), written)


# ------------------------------------------------------------------- fig 2

def fig2(run, neur, setting, chosen, figdir, written):
    """chosen: {K: cell index}. Rows: one per K; a last row compares the Ks."""
    colors = k_colors(run.Ks)
    Ks = sorted(chosen)
    d1 = neur.get(int(run.cell[chosen[1]])) if 1 in chosen else None
    nrow = len(Ks) + 1
    fig, axes = plt.subplots(nrow, 3, figsize=(15, 3.1 * nrow + 0.9), squeeze=False)
    for r, K in enumerate(Ks):
        i = chosen[K]
        d = neur[int(run.cell[i])]
        t = d["t"]
        s = thin(len(t))
        seed = "seed %s" % fmt(run.value["seed"][i]) if "seed" in run.value else "cell %d" % run.cell[i]
        cmap = plt.get_cmap("viridis")
        nk = d["par"].shape[1]
        shade = [cmap(0.1 + 0.8 * j / max(nk - 1, 1)) for j in range(nk)]
        par = np.abs(d["par"])
        sq = d["norm"] ** 2
        for j in range(nk):
            axes[r][0].plot(t[s], par[s, j], color=shade[j], lw=0.8)
            axes[r][1].plot(t[s], sq[s, j], color=shade[j], lw=0.8)
            axes[r][2].plot(t[s], d["perp_norm"][s, j], color=shade[j], lw=0.8)
        if nk > 1:
            axes[r][0].plot(t[s], np.sqrt(np.sum(par ** 2, axis=1))[s], color="k", lw=1.6,
                            label=r"l2 norm $\sqrt{\sum_k |w_\parallel^{(k)}|^2}$")
            axes[r][1].plot(t[s], np.sum(sq, axis=1)[s], color="k", lw=1.6,
                            label=r"sum $\Vert W_t\Vert _F^2$")
        if d1 is not None and K != 1:
            s1 = thin(len(d1["t"]))
            axes[r][0].plot(d1["t"][s1], np.abs(d1["par"][s1, 0]), color=colors[1], ls="--",
                            lw=1.3, label="K = 1")
            axes[r][1].plot(d1["t"][s1], d1["norm"][s1, 0] ** 2, color=colors[1], ls="--",
                            lw=1.3, label="K = 1")
        if nk > 1:
            for ax in axes[r][:2]:
                ax.plot([], [], color=shade[nk // 2], lw=0.8, label="neurons k = 1..%d" % nk)
        axes[r][0].set_title(r"parallel part $|w_\parallel^{(k)}|$ of each neuron, K = %d (%s)"
                             % (K, seed))
        axes[r][1].set_title(r"square norm $\Vert w^{(k)}\Vert ^2$ of each neuron, K = %d (%s)" % (K, seed))
        axes[r][2].set_title(r"perpendicular part $\Vert w_\perp^{(k)}\Vert $, K = %d (%s)" % (K, seed))
        axes[r][0].set_ylabel(r"$|w_\parallel^{(k)}|$ = |par$_k$|")
        axes[r][1].set_ylabel(r"$\Vert w^{(k)}\Vert ^2$")
        axes[r][2].set_ylabel(r"$\Vert w_\perp^{(k)}\Vert $ = perp_norm$_k$")
        for ax in axes[r][:2]:
            legend(ax, loc="upper left")
    # comparison row: aggregate projection vs sqrt(K) x the K = 1 projection
    ax_par, ax_perp, ax_fro = axes[-1]
    for K in Ks:
        d = neur[int(run.cell[chosen[K]])]
        s = thin(len(d["t"]))
        l2 = np.sqrt(np.sum(d["par"] ** 2, axis=1))
        ax_par.plot(d["t"][s], positive(l2[s]), color=colors[K], lw=1.5, label="K = %d" % K)
        if d1 is not None and K != 1:
            s1 = thin(len(d1["t"]))
            ax_par.plot(d1["t"][s1], positive(math.sqrt(K) * np.abs(d1["par"][s1, 0])),
                        color=colors[K], lw=1.0, ls="--")
        ax_perp.plot(d["t"][s], np.max(d["perp_norm"], axis=1)[s], color=colors[K], lw=1.5,
                     label="K = %d" % K)
        ax_fro.plot(d["t"][s], np.sum(d["norm"] ** 2, axis=1)[s], color=colors[K], lw=1.5,
                    label="K = %d" % K)
    if d1 is not None and len(Ks) > 1:
        ax_par.plot([], [], color="0.3", ls="--",
                    label=r"$\sqrt{K}\,|w_\parallel|$ of K = 1 (Lemma 3, early phase)")
    ax_par.set_yscale("log")
    plain_log_ticks(ax_par.yaxis)
    ax_par.set_title(r"all K: aggregate projection $\sqrt{\sum_k |w_\parallel^{(k)}|^2}$")
    ax_par.set_ylabel(r"$\sqrt{\sum_k |w_\parallel^{(k)}|^2}$")
    ax_perp.set_title(r"all K: largest perpendicular part $\max_k \Vert w_\perp^{(k)}\Vert $")
    ax_perp.set_ylabel(r"$\max_k \Vert w_\perp^{(k)}\Vert $")
    ax_fro.set_title(r"all K: $\Vert W_t\Vert _F^2 = \sum_k \Vert w^{(k)}\Vert ^2$")
    ax_fro.set_ylabel(r"$\Vert W_t\Vert _F^2$")
    for ax in axes[-1]:
        legend(ax, loc="best")
    for row in axes:
        for ax in row:
            t_axis(ax, run)
    suptitle(fig, run_title(run, "Figs. 2 and 6 (ACML: 2 and 5): parallel and perpendicular parts, one seed per K",
                           run.setting_text(setting)))
    save(fig, figdir, "fig2_neurons", written)


# ------------------------------------------------------------------- fig 3

FIG3_PANELS = (
    ("comp_A", True, "(a) component A (self, parallel)", r"$|A_k|$"),
    ("comp_B", True, "(b) component B (interaction, parallel)", r"$|B_k|$"),
    ("comp_C", False, "(c) component C (self, perpendicular)", r"$\Vert C_k\Vert $"),
    ("comp_D", False, "(d) component D (interaction, perp.)", r"$\Vert D_k\Vert $"),
)


def fig3(run, neur, setting, chosen, figdir, written):
    """chosen: {K: cell index} for the largest K and K = 3."""
    Ks = sorted(chosen, reverse=True)
    fig, axes = plt.subplots(len(Ks), 5, figsize=(20, 3.3 * len(Ks) + 0.9), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for r, K in enumerate(Ks):
        i = chosen[K]
        d = neur[int(run.cell[i])]
        t = d["t"]
        s = thin(len(t))
        seed = "seed %s" % fmt(run.value["seed"][i]) if "seed" in run.value else "cell %d" % run.cell[i]
        nk = d["par"].shape[1]
        shade = [cmap(0.1 + 0.8 * j / max(nk - 1, 1)) for j in range(nk)]
        for c, (name, absval, title, ylabel) in enumerate(FIG3_PANELS):
            ax = axes[r][c]
            v = np.abs(d[name]) if absval else d[name]
            v = positive(v)
            if np.all(np.isnan(v)):
                empty_note(ax, "zero for K = 1\n(no other neurons)" if K == 1 else "no positive values")
            else:
                for j in range(nk):
                    ax.plot(t[s], v[s, j], color=shade[j], lw=0.8)
                ax.set_yscale("log")
                plain_log_ticks(ax.yaxis)
            ax.set_title("%s, K = %d (%s)" % (title, K, seed))
            ax.set_ylabel(ylabel)
            t_axis(ax, run)
        ax = axes[r][4]
        with np.errstate(divide="ignore", invalid="ignore"):
            ba = positive(np.nanmax(np.abs(d["comp_B"]) / np.abs(d["comp_A"]), axis=1))
            dc = positive(np.nanmax(d["comp_D"] / d["comp_C"], axis=1))
        if np.all(np.isnan(ba)) and np.all(np.isnan(dc)):
            empty_note(ax, "B = D = 0 for K = 1" if K == 1 else "no positive ratios")
        else:
            ax.plot(t[s], ba[s], color="C3", lw=1.3, label=r"$\max_k |B_k| / |A_k|$")
            ax.plot(t[s], dc[s], color="C0", lw=1.3, label=r"$\max_k \Vert D_k\Vert  / \Vert C_k\Vert $")
            ax.set_yscale("log")
            legend(ax, loc="best")
        ax.set_title("(e) interaction / self ratios, K = %d" % K)
        ax.set_ylabel("ratio")
        t_axis(ax, run)
    suptitle(fig, run_title(run, "Figs. 3 and 5 (ACML: 3 and 4): components A, B, C, D of the population dynamics (8), "
                           "one line per neuron k", run.setting_text(setting)))
    save(fig, figdir, "fig3_components", written)


# --------------------------------------------------------- figs 9 and 4

def entry_figure(run, axis, figdir, stem, what, ref_label, written):
    """t_q9_positive vs `axis` (eta or C) on log-log axes, one line per K and
    per setting of the other varying axes; median over seeds with a min-max
    band; a slope -1 reference; below, the fraction of diverged cells."""
    colors = k_colors(run.Ks)
    vary = run.varying(drop=("K", axis))
    styles = ["-", "--", "-.", ":"]
    markers = ["o", "s", "^", "D", "v", "P"]
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ref_pts = []
    for j, (setting, idx) in enumerate(run.settings(drop=("K", axis))):
        for K in run.Ks:
            cells = [i for i in idx if run.K[i] == K]
            if not cells:
                continue
            xs = sorted(set(run.value[axis][i] for i in cells))
            med, lo, hi, xok, frac, never = [], [], [], [], [], 0
            for x in xs:
                at = [i for i in cells if run.value[axis][i] == x]
                good = [i for i in at if not run.diverged[i]]
                frac.append(1.0 - len(good) / len(at))
                tq = run.num["t_q9_positive"][good]
                never += int(np.sum(~np.isfinite(tq)))
                tq = tq[np.isfinite(tq) & (tq > 0)]
                if len(tq):
                    xok.append(x)
                    med.append(np.median(tq))
                    lo.append(tq.min())
                    hi.append(tq.max())
                    ref_pts.append((x, np.median(tq)))
            ndiv = int(np.sum(run.diverged[cells]))
            label = "K = %d" % K
            if vary:
                label += ", " + run.setting_text(setting, vary)
            notes = []
            if ndiv:
                notes.append("%d/%d diverged" % (ndiv, len(cells)))
            if never:
                notes.append("%d never > 0" % never)
            if notes:
                label += " (" + "; ".join(notes) + ")"
            st = styles[j % len(styles)]
            mk = markers[j % len(markers)]
            if xok:
                ax.fill_between(xok, lo, hi, color=colors[K], alpha=0.18, lw=0)
            ax.plot(xok, med, color=colors[K], ls=st, marker=mk, ms=4, lw=1.5, label=label)
            # shrinking markers: equal fractions of several K stay visible
            axd.plot(xs, frac, color=colors[K], ls=st, marker=mk, lw=1.0,
                     ms=max(8 - 2 * run.Ks.index(K), 2), mfc="none" if run.Ks.index(K) % 2 else None)
    if ref_pts:
        xs = np.array([p[0] for p in ref_pts])
        ys = np.array([p[1] for p in ref_pts])
        c = math.exp(float(np.mean(np.log(xs * ys))))  # geometric mean of x * t
        xr = np.array([xs.min(), xs.max()])
        ax.plot(xr, c / xr, color="0.35", ls="--", lw=1.1, label=ref_label)
    else:
        empty_note(ax, "no cell reached (9) > 0")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis, sorted(set(run.value[axis])))
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel("iterations until quantity (9) > 0")
    ax.set_title("line: median over seeds, band: min-max; diverged cells left out")
    legend(ax, loc="best")
    axd.set_ylim(-0.05, 1.05)
    axd.set_ylabel("fraction diverged")
    axd.set_xlabel({"eta": "step size η", "C": "output scale C"}.get(axis, axis))
    common = run.setting_text(run.settings(drop=("K", axis))[0][0],
                              [a for a in run.params if a not in ("K", axis) and a not in vary])
    suptitle(fig, run_title(run, what, common))
    save(fig, figdir, stem, written)


# ---------------------------------------------------------------- summary

def stats(v):
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return ["-"] * 4
    return [fmt(float(np.mean(v))), fmt(float(np.median(v))), fmt(float(v.min())), fmt(float(v.max()))]


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def summary(run, written, path, sections=()):
    """summary.md: the run's provenance, then `sections` (lists of lines),
    then the figures written and skipped."""
    m = run.manifest
    cfg = run.config
    lines = ["# %s: run summary" % run.name, ""]
    lines += ["- run: `%s` (%s), config `%s`" % (run.name, os.path.abspath(run.outdir),
                                                  run.config_name),
              "- tsim version: %s" % m.get("tsim_version", "?"),
              "- git commit: %s" % m.get("git_commit", "?"),
              "- started %s, %s rank(s) on %s, wall %s s" % (
                  m.get("start", "?"), m.get("ranks", "?"), m.get("hosts", "?"), m.get("wall_s", "?")),
              "- cells: %d (%s%s)" % (
                  len(run.cell), ", ".join("%d %s" % (int(np.sum(run.status == s)), s)
                                           for s in FINISHED),
                  ", %d not finished" % int(np.sum(~run.finished)) if not np.all(run.finished) else ""),
              ]
    tr = cfg.get("train", {})
    if tr:
        lines.append("- train: iterations %s, log_every %s, nu %s" % (
            tr.get("iterations", "?"), tr.get("log_every", "?"), tr.get("nu", "?")))
    lines += ["- replicates (grouped over): %s" % (", ".join(
        a for a in run.axes if a in REPLICATE_AXES) or "none"), ""]
    for section in sections:
        lines += section
    lines += ["## Figures", ""]
    pngs = [p for p in written if p.endswith(".png")]
    for p in pngs:
        lines.append("- `%s` (+ .pdf)" % os.path.relpath(p, run.outdir))
    if not pngs:
        lines.append("- none written")
    for note in run.notes:
        lines.append("- skipped: %s" % note)
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def wang_tables(run):
    """summary.md sections of Wang & Abernethy's runs: entry times per
    setting, and T_gamma against the bound of Theorems 1/3 for K = 1."""
    lines = []
    params = run.params
    head = [AXIS_LABEL.get(a, a) for a in params]
    lines += ["## Entry times per setting", "",
              "Statistics over the non-diverged cells that reached the event; "
              "`reached` counts them out of the non-diverged cells. "
              "`t_q9>0`: first t with quantity (9) > 0; `t_lemma1`: first t with "
              "dist <= nu ||w*||/sqrt(C).", ""]
    rows, krows = [], []
    for key in run.sorted_keys(run.groups):
        idx = np.array(run.groups[key])
        good = idx[~run.diverged[idx] & run.finished[idx]]
        ndiv = int(np.sum(run.diverged[idx]))
        vals = [fmt(v) for v in key]
        row = vals + [str(len(idx)), "%.2f" % (ndiv / len(idx))]
        for name in ("t_q9_positive", "t_lemma1"):
            v = run.num[name][good]
            row += ["%d/%d" % (int(np.sum(np.isfinite(v))), len(good))] + stats(v)
        rows.append(row)
        if int(run.K[idx[0]]) == 1 and "t_gamma" in run.num:
            tg = run.num["t_gamma"][good]
            tb = run.num["t_gamma_bound"][good]
            both = np.isfinite(tg) & np.isfinite(tb)
            ratio = fmt(float(np.mean(tg[both] / tb[both]))) if np.any(both) else "-"
            krows.append(vals + ["%d/%d" % (int(np.sum(np.isfinite(tg))), len(good)),
                                 stats(tg)[0], stats(tb)[0], ratio])
    lines += table(head + ["cells", "frac. diverged",
                           "t_q9>0 reached", "mean", "median", "min", "max",
                           "t_lemma1 reached", "mean", "median", "min", "max"], rows)
    lines.append("")
    if krows:
        lines += ["## K = 1: T_gamma measured vs the bound of Theorems 1/3", "",
                  "`t_gamma`: first t with | |par| - ||w*||/sqrt(C) | <= gamma and perp <= gamma; "
                  "`bound`: log((||w*||/sqrt(C) - gamma)/|w0_par|) / log(1 + eta' Delta_C). "
                  "Means over the non-diverged seeds.", ""]
        lines += table(head + ["t_gamma reached", "mean t_gamma", "mean bound",
                               "mean t_gamma / bound"], krows)
        lines.append("")
    return lines


def wang_claims(run):
    """summary.md section: what Wang & Abernethy claim about K > 1, claim by
    claim, against this run (per setting of the other axes, means over the
    non-diverged finished seeds). Nothing here is tuned to agree."""
    if len(run.Ks) < 2 or run.metrics is None:
        return []
    lines = ["## The paper's claims about K > 1 against this run", "",
             "Claims of Wang & Abernethy (ICLR 2021 submission, Sec. 1 and 4; ACML 2021 the same): "
             "(a) larger K enters the region where quantity (9) > 0 sooner; "
             "(b) over-parameterization makes the training (and test) error go to zero faster; "
             "(c) every K enters linear convergence (reaches the Lemma 1 region, t_lemma1). "
             "`yes` when the means over seeds are ordered as the claim says "
             "(strictly decreasing in K for (a) and (b)), else `no`.", ""]
    rows = []
    for setting, idx in run.settings():
        idx = [i for i in idx if run.finished[i] and not run.diverged[i]]
        if not idx:
            continue
        byK = {K: [i for i in idx if run.K[i] == K] for K in run.Ks}
        byK = {K: v for K, v in byK.items() if v}
        Ks = sorted(byK)
        if len(Ks) < 2:
            continue
        tq = [float(np.nanmean(run.num["t_q9_positive"][byK[K]])) for K in Ks]
        t_all, _ = run.series(idx, "train_loss")
        tlast = float(t_all[-1]) if len(t_all) else float("nan")
        checkpoints = sorted(set(float(t) for t in (tlast / 5, tlast / 2, tlast) if t > 0))
        losses = {}
        for K in Ks:
            t, v = run.series(byK[K], "train_loss")
            # past a group's last row: its final loss when every cell of it
            # converged (stopped below the tolerance), else unknown
            done = all(run.status[i] == "converged" for i in byK[K])
            losses[K] = [float("nan") if not len(t) else
                         float(np.nanmean(v[:, np.searchsorted(t, c)])) if np.searchsorted(t, c) < len(t)
                         else float(np.nanmean(v[:, -1])) if done else float("nan")
                         for c in checkpoints]
        dist = [float(np.nanmean(run.num["final_dist"][byK[K]])) for K in Ks]
        lem = ["%d/%d" % (int(np.sum(np.isfinite(run.num["t_lemma1"][byK[K]]))), len(byK[K]))
               for K in Ks]
        ordered = lambda v: all(np.isfinite(v)) and all(a > b for a, b in zip(v, v[1:]))
        text = run.setting_text(setting) or "all cells"
        kl = "K = " + " / ".join(str(K) for K in Ks)
        rows.append([text, "(a) t_q9>0 (%s)" % kl, " / ".join(fmt(v) for v in tq),
                     "yes" if ordered(tq) else "no"])
        for j, c in enumerate(checkpoints):
            v = [losses[K][j] for K in Ks]
            rows.append([text, "(b) train loss at t = %s (%s)" % (fmt(c), kl),
                         " / ".join("%.2g" % x for x in v), "yes" if ordered(v) else "no"])
        rows.append([text, "(b) dist at the end (%s)" % kl, " / ".join("%.3g" % x for x in dist),
                     "yes" if ordered(dist) else "no"])
        rows.append([text, "(c) t_lemma1 reached (%s)" % kl, " / ".join(lem),
                     "yes" if all(x.split("/")[0] == x.split("/")[1] for x in lem) else "no"])
        # (c) linear convergence makes log L fall linearly in t, so the local
        # exponent p of L ~ t^-p keeps growing; a power law keeps p fixed.
        # p over [T/4, T/2] and [T/2, T] for each K that has not converged.
        ps, verdict = [], "yes"
        for K in Ks:
            if all(run.status[i] == "converged" for i in byK[K]):
                ps.append("converged")
                continue
            t, v = run.series(byK[K], "train_loss")
            m = np.nanmean(v, axis=0) if len(t) else np.zeros(0)
            at = lambda c: float(m[min(np.searchsorted(t, c), len(t) - 1)]) if len(t) else float("nan")
            p1 = math.log(at(tlast / 4) / at(tlast / 2)) / math.log(2.0)
            p2 = math.log(at(tlast / 2) / at(tlast)) / math.log(2.0)
            ps.append("%.2f, %.2f" % (p1, p2))
            if np.isfinite(p1) and np.isfinite(p2) and p2 < 1.25 * p1:
                verdict = "no (power law)"
        rows.append([text, "(c) exponent p of train loss ~ t^-p over [T/4, T/2] and [T/2, T] (%s)" % kl,
                     " / ".join(ps), verdict])
    if not rows:
        return []
    lines += table(["setting", "claim", "measured", "as claimed"], rows)
    lines.append("")
    return lines


# ------------------------------------------------------------------- main

def wang_figures(run, figdir, written):
    """Wang & Abernethy's figures 1, 2, 3, 4 and 9, as they apply to the grid;
    returns the summary.md sections."""
    if run.load_metrics():
        fig1(run, figdir, written)

    # figs 2 and 3: one seed per K of one (eta, C) setting, from neurons.csv
    npath = os.path.join(run.outdir, "neurons.csv")
    if not os.path.exists(npath):
        run.notes.append("neurons.csv absent (output.neurons: false): fig2_neurons and "
                         "fig3_components skipped")
    else:
        # every finished cell logs t = 0, so it has neuron rows
        present = set(int(c) for c in run.cell[run.finished])
        setting, idx = run.reference_setting(present)
        chosen = run.pick_cells(idx, present)
        if chosen:
            want3 = {K: chosen[K] for K in (max(chosen), 3) if K in chosen}
            neur = run.load_neurons([int(run.cell[i]) for i in chosen.values()])
            chosen = {K: i for K, i in chosen.items() if int(run.cell[i]) in neur}
            want3 = {K: i for K, i in want3.items() if int(run.cell[i]) in neur}
        if chosen:
            fig2(run, neur, setting, chosen, figdir, written)
            if want3:
                fig3(run, neur, setting, want3, figdir, written)
        else:
            run.notes.append("no non-diverged cell with neuron rows: fig2_neurons and "
                             "fig3_components skipped")

    if len(run.unique("eta")) > 1:
        entry_figure(run, "eta", figdir, "fig9_entry",
                     "Fig. 9 (ACML: Fig. 8): iterations until (9) > 0 vs step size η",
                     "∝ 1/η (slope −1)", written)
    else:
        run.notes.append("one step size η: fig9_entry not drawn")
    if len(run.unique("C")) > 1:
        entry_figure(run, "C", figdir, "fig4_scale",
                     "Fig. 4 (ICLR only): iterations until (9) > 0 vs output scale C",
                     "∝ 1/C (slope −1)", written)
    else:
        run.notes.append("one output scale C: fig4_scale not drawn")
    return [wang_claims(run), wang_tables(run)]


def no_teacher_figures(run, figdir, written):
    """A run without a teacher (teacher.source none: the labels come from
    data.y_file): fig_loss, the training and test losses against t, one curve
    per cell; no teacher panel (dist, quantity (9), population loss, neurons
    along the teacher, teachers.csv). Returns the summary.md sections."""
    why = run.manifest.get("teacher", "teacher.source none").split(";")[0]
    run.notes.append("%s: no teacher panel (dist, quantity (9), population loss, "
                     "neurons along the teacher, teachers.csv)" % why)
    cols, rows = load_table(run, "metrics.csv", ["cell", "t", "train_loss", "test_loss"])
    if cols is None:
        run.notes.append("metrics.csv absent: fig_loss skipped")
        return []
    colors = k_colors(run.Ks)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False)
    for c, name in enumerate(("train_loss", "test_loss")):
        ax = axes[0][c]
        seen = set()
        for i, cell in enumerate(run.cell):
            sl = rows.get(int(cell))
            if sl is None:
                continue
            t, v = cols["t"][sl], cols[name][sl]
            ok = (t > 0) & (v > 0) & np.isfinite(v)
            if not np.any(ok):
                continue
            K = int(run.K[i])
            ax.loglog(t[ok], v[ok], color=colors[K], lw=1, alpha=0.8,
                      label=None if K in seen else "K = %d" % K)
            seen.add(K)
        if not seen:
            empty_note(ax, "no %s logged" % name)
        ax.set_title(name.replace("_", " "))
        ax.set_xlabel("iteration t")
        legend(ax)
    suptitle(fig, "run '%s': losses (%s)" % (run.name, why))
    save(fig, figdir, "fig_loss", written)
    return [["## No teacher", "", "%s: the teacher-based columns are empty and the "
             "figures show the losses only." % why, ""]]


def family(config):
    """Which paper's figures a run gets, from its config (manifest.json):
    relu students: Xu & Du; abs (norm-tied) students: Zhou, Ge & Jin (Claim 2
    when init.method is claim2, else local convergence); quadratic students
    with several teachers or the 1/m normalisation: Martin, Bach & Biroli;
    otherwise (one quadratic teacher): Wang & Abernethy."""
    model = config.get("model", {}) or {}
    act = model.get("activation", "quadratic")
    init = config.get("init", {}) or {}
    teacher = config.get("teacher", {}) or {}
    if act == "relu":
        return "xu_du"
    if act == "abs":
        return "zhou_claim2" if init.get("method") == "claim2" else "zhou_local"
    try:
        neurons = int(teacher.get("neurons", 1) or 1)
    except (TypeError, ValueError):
        neurons = 1
    if neurons > 1 or model.get("normalisation") == "1/m":
        return "martin"
    return "wang"


def main(argv):
    ap = argparse.ArgumentParser(description="Figures and summary.md of one tsim run "
                                 "directory, for the paper its config belongs to "
                                 "(analysis/README.md).")
    ap.add_argument("outdir", help="run directory written by `tsim run`")
    ap.add_argument("--population", metavar="DIR",
                    help="Xu & Du empirical runs: the population run to compare with "
                    "(default: a sibling run directory with the same model, if any)")
    ap.add_argument("--fit-window", metavar="T0,T1",
                    help="Xu & Du / Zhou: the t window of the log-log slope fit "
                    "(default: the last decade of logged t)")
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.outdir, "cells.csv")):
        print("plot_run.py: %s: no cells.csv (not a tsim run directory?)" % args.outdir,
              file=sys.stderr)
        return 2
    window = None
    if args.fit_window:
        try:
            window = tuple(float(v) for v in args.fit_window.split(","))
            if len(window) != 2 or not 0 < window[0] < window[1]:
                raise ValueError
        except ValueError:
            print("plot_run.py: --fit-window %s: want T0,T1 with 0 < T0 < T1" % args.fit_window,
                  file=sys.stderr)
            return 2
    run = Run(args.outdir)
    figdir = os.path.join(args.outdir, "figures")
    os.makedirs(figdir, exist_ok=True)
    written = []

    # the per-paper modules import this file as `plot_run` for its helpers
    sys.modules.setdefault("plot_run", sys.modules[__name__])
    kind = family(run.config)
    if (run.config.get("teacher", {}) or {}).get("source") == "none":
        sections = no_teacher_figures(run, figdir, written)
    elif kind == "wang":
        sections = wang_figures(run, figdir, written)
    elif kind == "xu_du":
        import xu_du
        sections = xu_du.figures(run, figdir, written, population=args.population,
                                 window=window)
    elif kind in ("zhou_claim2", "zhou_local"):
        import zhou
        sections = (zhou.claim2 if kind == "zhou_claim2" else zhou.local)(
            run, figdir, written, window=window)
        if kind == "zhou_local" and os.path.isdir(os.path.join(run.outdir, "weights")):
            sections += zhou.trajectories(run, figdir, written)  # output.weights: Fig. 1
    else:
        import martin
        sections = martin.figures(run, figdir, written)
    if any(os.path.exists(os.path.join(run.outdir, f)) for f in ("spectrum.csv", "hessian.csv")):
        import hessian
        sections += hessian.figures(run, figdir, written)

    spath = os.path.join(run.outdir, "summary.md")
    summary(run, written, spath, sections)
    for p in written + [spath]:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
