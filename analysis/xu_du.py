"""xu_du.py - figures and summary of Xu & Du (COLT 2023), "Over-parameterization
exponentially slows down gradient descent for learning a single neuron"
(docs/reproductions.md): one ReLU teacher, K ReLU students, population loss
L = 1/2 E (f - f*)^2. Called by plot_run.py for runs with relu students.

- fig1_xu: Fig. 1, both panels: (a) L against t on log-log axes, one curve
  per K (mean over seeds, min-max band); (b) the effective exponent
  log_{eta T} L = log L(T) / log(eta T) against T (gradient flow: log L / log T),
  which the paper shows tending to about -3 for K >= 2.
- fig1_xu_empirical (runs with an n axis, data.regime: empirical): per K,
  the population loss of the empirical trajectories for each n against the
  population run's curve (found with --population or as a sibling run
  directory with the same model), and the largest gap over t against n
  with an n^-1/2 guide.

summary.md: per setting the loss at the end T, log_{eta T} L(T), and the
least-squares slope of log L against log t over a stated window (default:
the logged t in [T/10, T]).
"""
import math
import os
import json

import numpy as np

import plot_run as pr
from plot_run import plt

PAPER = "Xu & Du (2023)"
FLOOR = 1e-20   # a loss below this has reached rounding (K = 1 converges exponentially)


def is_flow(run):
    return pr.config_get(run.config, "train.method", "gd") == "flow"


def is_population(config):
    return pr.config_get(config, "data.regime", "empirical") == "population"


def eta_of(run, i):
    """The step size, 1 where there is none (a flow: eta empty in cells.csv)."""
    eta = pr.cell_param(run, i, "eta", "train.eta", 1.0)
    return 1.0 if is_flow(run) or eta == "" else float(eta)


def load_losses(run):
    """metrics.csv into run.metrics with a `loss` column: the population loss
    where it is logged (the population loss of an empirical trajectory),
    else the training loss."""
    cols, rows = pr.load_table(run, "metrics.csv", ["cell", "t", "train_loss", "pop_loss"])
    if cols is None:
        return False
    loss = np.where(np.isfinite(cols["pop_loss"]), cols["pop_loss"], cols["train_loss"])
    cols["loss"] = loss
    run.metrics, run.metric_rows = cols, rows
    return True


def same_model(a, b):
    """Do two configs describe the same student, teacher, init and step size
    (so one's population curve is the other's n -> infinity limit)?"""
    keys = ("model.activation", "model.d", "model.loss_scale", "model.C",
            "teacher.norm", "teacher.direction", "init.method", "init.sigma",
            "init.scale", "train.eta", "train.method")
    return all(pr.config_get(a, k) == pr.config_get(b, k) for k in keys)


def find_population(run, given):
    """The population run directory to compare an empirical run with."""
    if given:
        return given if os.path.exists(os.path.join(given, "cells.csv")) else None
    parent = os.path.dirname(os.path.abspath(run.outdir))
    here = os.path.abspath(run.outdir)
    for name in sorted(os.listdir(parent)):
        d = os.path.join(parent, name)
        if d == here or not os.path.exists(os.path.join(d, "cells.csv")):
            continue
        try:
            with open(os.path.join(d, "manifest.json")) as f:
                cfg = json.load(f).get("config", {})
        except (OSError, ValueError):
            continue
        if is_population(cfg) and same_model(cfg, run.config):
            return d
    return None


def curve(run, idx):
    """t > 0 and the mean, min, max of the loss over the cells idx."""
    t, v = run.series([i for i in idx if not run.diverged[i]], "loss")
    if len(t) == 0:
        return t, v, v, v
    mean, lo, hi = pr.nanstats(v)
    keep = t > 0
    return t[keep], pr.positive(mean[keep]), pr.positive(lo[keep]), pr.positive(hi[keep])


def by_K(run, idx):
    out = {}
    for i in idx:
        out.setdefault(int(run.K[i]), []).append(i)
    return out


def population_figure(run, figdir, written):
    colors = pr.k_colors(run.Ks)
    flow = is_flow(run)
    settings = run.settings(drop=("K",))
    vary = run.varying(drop=("K",))
    styles = ["-", "--", "-.", ":"]
    fig, (ax, axe) = plt.subplots(1, 2, figsize=(13, 5.2))
    low = []
    for j, (setting, idx) in enumerate(settings):
        for K, cells in sorted(by_K(run, idx).items()):
            t, mean, lo, hi = curve(run, cells)
            if len(t) == 0:
                continue
            label = "K = %d" % K + (", " + run.setting_text(setting, vary) if vary else "")
            ndiv = int(np.sum(run.diverged[cells]))
            if ndiv:
                label += " (%d diverged, not shown)" % ndiv
            s = pr.thin(len(t))
            if len(cells) > 1:
                ax.fill_between(t[s], lo[s], hi[s], color=colors[K], alpha=0.2, lw=0)
            ax.plot(t[s], mean[s], color=colors[K], ls=styles[j % 4], lw=1.5, label=label)
            eta = eta_of(run, cells[0])
            with np.errstate(divide="ignore", invalid="ignore"):
                expo = np.log(mean) / np.log(eta * t)
            keep = eta * t >= math.e
            axe.plot(t[keep], expo[keep], color=colors[K], ls=styles[j % 4], lw=1.5, label=label)
            if K > 1:
                tail = expo[keep & (eta * t >= 10)]
                low += list(tail[np.isfinite(tail)])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time t" if flow else "iteration t")
    ax.set_ylabel(r"loss $L(W_t) = \frac{1}{2}E(f - f^*)^2$")
    ax.set_title("(a) loss vs t (log-log)")
    pr.legend(ax, loc="lower left")
    axe.axhline(-3.0, color="0.3", lw=0.9, ls=":", label=r"$-3$ (the paper's $T^{-3}$ rate)")
    if low:
        axe.set_ylim(max(min(low) - 0.5, -12.0), 0.2)
    axe.set_xscale("log")
    axe.set_xlabel("T" if flow else "iteration T")
    axe.set_ylabel(r"$\log L(T) / \log T$" if flow else r"$\log_{\eta T} L(T) = \log L(T) / \log(\eta T)$")
    axe.set_title("(b) effective exponent (where %s >= e)" % ("T" if flow else "ηT"))
    pr.legend(axe, loc="lower right")
    common = run.setting_text(settings[0][0], [a for a in run.params
                                               if a != "K" and a not in vary])
    pr.suptitle(fig, pr.run_title(run, "Fig. 1: over-parameterization slows gradient "
                                  + ("flow" if flow else "descent"),
                                  "population loss; line: mean over seeds, band: min-max"
                                  + ("; " + common if common else ""), paper=PAPER))
    pr.save(fig, figdir, "fig1_xu", written)


def shown(path):
    """A path relative to the working directory when it is below it."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def reference_curves(path):
    """{K: (t, L)} of a population run (first seed of each K)."""
    ref = pr.Run(path)
    if not load_losses(ref):
        return {}
    out = {}
    for i in sorted(range(len(ref.cell)), key=lambda i: ref.cell[i]):
        K = int(ref.K[i])
        sl = ref.metric_rows.get(int(ref.cell[i]))
        if K in out or sl is None or ref.diverged[i]:
            continue
        out[K] = (ref.metrics["t"][sl], ref.metrics["loss"][sl])
    return out


def gap(t, v, ref):
    """max over t (within both ranges) of |v(t) - L_pop(t)|, the reference
    interpolated in log t."""
    rt, rv = ref
    ok = (t > 0) & (t >= rt[rt > 0].min()) & (t <= rt.max()) & np.isfinite(v)
    if not np.any(ok):
        return math.nan
    r = np.interp(np.log(t[ok]), np.log(rt[rt > 0]), rv[rt > 0])
    return float(np.max(np.abs(v[ok] - r)))


def empirical_figure(run, figdir, written, refdir):
    ref = reference_curves(refdir) if refdir else {}
    ns = sorted(v for v in run.unique("n") if not isinstance(v, str))
    cmap = plt.get_cmap("viridis")
    ncolor = {n: cmap(0.1 + 0.75 * j / max(len(ns) - 1, 1)) for j, n in enumerate(ns)}
    Ks = run.Ks
    npanel = len(Ks) + 1
    ncol = min(3, npanel)
    nrow = (npanel + ncol - 1) // ncol
    fig, grid = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.3 * nrow + 0.8), squeeze=False)
    axes = list(grid.flat)
    for a in axes[npanel:]:
        a.set_visible(False)
    axes = axes[:npanel - 1] + [axes[npanel - 1]]
    tmax = float(np.max(run.metrics["t"])) if len(run.metrics["t"]) else 1.0
    gaps = {}   # K -> [(n, gap)]
    for c, K in enumerate(Ks):
        ax = axes[c]
        if K in ref:
            rt, rv = ref[K]
            keep = (rt > 0) & (rt <= 1.5 * tmax)   # the reference over the empirical runs' range
            ax.plot(rt[keep], pr.positive(rv[keep]), color="k", lw=2.2, alpha=0.7,
                    label="population (n = ∞)")
        for n in ns:
            cells = [i for i in range(len(run.cell)) if run.K[i] == K and run.value["n"][i] == n
                     and not run.diverged[i]]
            if not cells:
                continue
            i = min(cells, key=lambda i: run.cell[i])
            sl = run.metric_rows.get(int(run.cell[i]))
            if sl is None:
                continue
            t = run.metrics["t"][sl]
            keep = t > 0
            ax.plot(t[keep], pr.positive(run.metrics["loss"][sl][keep]), color=ncolor[n], lw=1.3,
                    label="n = %s: population loss" % pr.fmt(n))
            tr = run.metrics["train_loss"][sl]
            if np.any(np.isfinite(tr) & (tr != run.metrics["loss"][sl])):
                ax.plot(t[keep], pr.positive(tr[keep]), color=ncolor[n], lw=0.8, ls="--")
            if K in ref:
                gaps.setdefault(K, []).append((n, gap(t, run.metrics["loss"][sl], ref[K])))
        ax.plot([], [], color="0.4", lw=0.8, ls="--", label="training loss (dashed)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("iteration t")
        ax.set_ylabel("loss")
        ax.set_title("K = %d: empirical GD against the population curve" % K)
        pr.legend(ax, loc="lower left", fontsize=7)
    ax = axes[-1]
    colors = pr.k_colors(Ks)
    pts = []
    for K, g in sorted(gaps.items()):
        g = [(n, v) for n, v in g if np.isfinite(v) and v > 0]
        if g:
            ax.plot([p[0] for p in g], [p[1] for p in g], color=colors[K], marker="o",
                    label="K = %d" % K)
            pts += g
    if pts:
        xs = np.array([p[0] for p in pts], dtype=float)
        ys = np.array([p[1] for p in pts])
        c = math.exp(float(np.mean(np.log(ys * np.sqrt(xs)))))
        xr = np.array([xs.min(), xs.max()])
        ax.plot(xr, c / np.sqrt(xr), color="0.35", ls="--", label=r"$\propto n^{-1/2}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        pr.plain_log_ticks(ax.xaxis, [float(n) for n in ns])
    else:
        pr.empty_note(ax, "no population run to compare with\n(--population DIR)")
    ax.set_xlabel("samples n")
    ax.set_ylabel(r"$\max_t |L(W_t^{(n)}) - L(W_t^{(\infty)})|$")
    ax.set_title("gap to the population trajectory")
    pr.legend(ax, loc="best")
    pr.suptitle(fig, pr.run_title(run, "Fig. 1, empirical check: finite n against n = ∞",
                                  "reference: %s" % (shown(refdir) if refdir else "none found"),
                                  paper=PAPER))
    pr.save(fig, figdir, "fig1_xu_empirical", written)
    return gaps


def exponent_table(run, window):
    """summary.md: per setting the end loss, log_{eta T} L(T) and the fitted
    log-log slope with its window."""
    flow = is_flow(run)
    head = [pr.AXIS_LABEL.get(a, a) for a in run.params]
    rows = []
    for key in run.sorted_keys(run.groups):
        idx = [i for i in run.groups[key] if not run.diverged[i]]
        T, L, ex, sl, npts, win = [], [], [], [], [], None
        for i in idx:
            s = run.metric_rows.get(int(run.cell[i]))
            if s is None:
                continue
            t, v = run.metrics["t"][s], run.metrics["loss"][s]
            if len(t) == 0:
                continue
            Tc, Lc = float(t[-1]), float(v[-1])
            eta = eta_of(run, i)
            w = window or (Tc / 10.0, Tc)
            win = w
            slope, n = pr.loglog_fit(t, v, w)
            T.append(Tc)
            L.append(Lc)
            ex.append(math.log(Lc) / math.log(eta * Tc) if Lc > 0 and eta * Tc > 1 else math.nan)
            sl.append(slope)
            npts.append(n)
        if not T:
            continue
        note = "loss at rounding floor (< %g): exponential" % FLOOR if max(L) < FLOOR else ""
        rows.append([pr.fmt(v) for v in key] + [
            "%d/%d" % (len(T), len(run.groups[key])), pr.fmt(float(np.mean(T))),
            "%.3g" % float(np.mean(L)), "%.3f" % float(np.nanmean(ex)) if np.any(np.isfinite(ex)) else "-",
            "[%s, %s]" % (pr.fmt(win[0]), pr.fmt(win[1])), str(min(npts)),
            "%.3f" % float(np.nanmean(sl)) if np.any(np.isfinite(sl)) else "-", note])
    lines = ["## Xu & Du: effective exponent", "",
             "`T`: last logged %s; `log L/log(%s)` at T (the paper's log_{ηT} L, Fig. 1 right); "
             "`slope`: least-squares slope of log L against log t over the logged points in the "
             "window (default [T/10, T]; `--fit-window T0,T1` to change), mean over the seeds. "
             "L is the population loss (of the empirical trajectory for an empirical run)."
             % ("time" if flow else "iteration", "T" if flow else "ηT"), ""]
    lines += pr.table(head + ["cells", "T", "L(T)", "log L/log(%s)" % ("T" if flow else "ηT"),
                              "fit window", "points", "slope", "note"], rows)
    lines.append("")
    return lines


def figures(run, figdir, written, population=None, window=None):
    if not load_losses(run):
        run.notes.append("metrics.csv absent: Xu & Du figures skipped")
        return []
    sections = [exponent_table(run, window)]
    if is_population(run.config):
        population_figure(run, figdir, written)
    else:
        population_figure(run, figdir, written)  # the empirical runs' own curves
        refdir = find_population(run, population)
        if population and not refdir:
            run.notes.append("--population %s: no cells.csv there" % population)
        if "n" in run.varying(drop=("K",)) or refdir:
            gaps = empirical_figure(run, figdir, written, refdir)
            lines = ["## Xu & Du: empirical against population", "",
                     "Population run compared with: %s. `gap`: max over the logged t of "
                     "|L(W_t) of the empirical trajectory - L of the population trajectory| "
                     "(the reference interpolated in log t)." % (
                         "`%s`" % shown(refdir) if refdir else "none found (pass --population DIR)"), ""]
            rows = [[str(K), pr.fmt(n), "%.3g" % g] for K, gs in sorted(gaps.items()) for n, g in gs]
            if rows:
                lines += pr.table(["K", "n", "gap"], rows)
            lines.append("")
            sections.append(lines)
        else:
            run.notes.append("empirical run with one n and no population run: "
                             "fig1_xu_empirical not drawn")
    return sections
