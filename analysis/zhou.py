"""zhou.py - figures and summary of Zhou, Ge & Jin (COLT 2021), "A local
convergence theory for mildly over-parameterized two-layer neural networks"
(docs/reproductions.md): absolute-value teachers sum_i |v_i^T x|, norm-tied
students sum_k ||w_k|| |w_k^T x|, population loss 1/2 E (f - f*)^2.
Called by plot_run.py for runs with abs students.

- claim2_zhou (init.method: claim2): the loss at the starting point against
  delta on log-log axes: two students at angles +-delta (K = 2) with the
  guide 2/(3 pi) delta^3, one student at angle delta (K = 1) with delta^2/2;
  a second panel shows L/delta^3 and L/delta^2 tending to those constants.
- local_zhou: (a) loss against t (log-log) per m = K, mean over seeds with a
  min-max band, and a 1/T guide; (b) 1 - the best-aligned student's cosine
  per teacher (teachers.csv), one seed; (c) the fraction of students within
  metrics.match_angle of a teacher.
"""
import math
import os

import numpy as np

import plot_run as pr
from plot_run import plt

PAPER = "Zhou, Ge & Jin (2021)"
CLAIM2_K2 = 2.0 / (3.0 * math.pi)   # L/delta^3 -> 2/(3 pi) (Claim 2: the delta -> 0 limit of the closed-form population loss)
CLAIM2_K1 = 0.5                     # one student at angle delta: L/delta^2 -> 1/2


def load_losses(run):
    cols, rows = pr.load_table(run, "metrics.csv", ["cell", "t", "train_loss", "pop_loss"])
    if cols is None:
        return False
    cols["loss"] = np.where(np.isfinite(cols["pop_loss"]), cols["pop_loss"], cols["train_loss"])
    run.metrics, run.metric_rows = cols, rows
    return True


def claim2(run, figdir, written, window=None):
    if not load_losses(run):
        run.notes.append("metrics.csv absent: claim2_zhou skipped")
        return []
    # the loss at the starting point (t = 0) of every cell, against delta
    pts = {}   # K -> [(delta, L)]
    for i in range(len(run.cell)):
        sl = run.metric_rows.get(int(run.cell[i]))
        delta = pr.cell_param(run, i, "delta", "init.delta")
        if sl is None or delta is None or isinstance(delta, str):
            continue
        t, v = run.metrics["t"][sl], run.metrics["loss"][sl]
        if len(t) == 0 or t[0] != 0:
            continue
        pts.setdefault(int(run.K[i]), []).append((float(delta), float(v[0])))
    if not pts:
        run.notes.append("no cell with a loss at t = 0 and a delta: claim2_zhou skipped")
        return []
    colors = pr.k_colors(run.Ks)
    guides = {2: (CLAIM2_K2, 3, r"$\frac{2}{3\pi}\delta^3$ (Claim 2)"),
              1: (CLAIM2_K1, 2, r"$\delta^2/2$ (one student)")}
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(12, 5))
    for K in sorted(pts):
        p = sorted(pts[K])
        d = np.array([q[0] for q in p])
        L = np.array([q[1] for q in p])
        what = "two students at ±δ" if K == 2 else "one student at δ" if K == 1 else "K = %d" % K
        ax.plot(d, pr.positive(L), color=colors[K], marker="o", lw=0, ms=6,
                label="K = %d: %s" % (K, what))
        if K in guides:
            c, power, glabel = guides[K]
            dd = np.geomspace(d.min(), d.max(), 50)
            ax.plot(dd, c * dd ** power, color=colors[K], ls="--", lw=1.1, label=glabel)
            axr.plot(d, L / d ** power, color=colors[K], marker="o",
                     label=r"K = %d: $L/\delta^%d$" % (K, power))
            axr.axhline(c, color=colors[K], ls="--", lw=1.0,
                        label="%s = %.4f" % ("2/(3π)" if K == 2 else "1/2", c))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("angle δ (radians)")
    ax.set_ylabel(r"population loss $L = \frac{1}{2}E(f - f^*)^2$")
    ax.set_title("(a) loss at the construction vs δ")
    pr.legend(ax, loc="upper left")
    axr.set_xscale("log")
    axr.set_xlabel("angle δ (radians)")
    axr.set_ylabel(r"$L/\delta^3$ (K = 2), $L/\delta^2$ (K = 1)")
    axr.set_title("(b) the ratios tend to the derived constants as δ → 0")
    pr.legend(axr, loc="best")
    pr.suptitle(fig, pr.run_title(run, "Claim 2: L = Θ(δ³) with two students, Θ(δ²) with one",
                                  "teacher |v·x|, ‖v‖ = 1; students ‖w_k‖ |w_k·x|, "
                                  "‖w_k‖ = 1/sqrt(2 cos δ) for K = 2", paper=PAPER))
    pr.save(fig, figdir, "claim2_zhou", written)

    lines = ["## Zhou, Ge & Jin: Claim 2", "",
             "Loss at the construction (t = 0). Derived limits (docs/reproductions.md): "
             "L/δ³ → 2/(3π) = %.4f for two students at ±δ, L/δ² → 1/2 for one student "
             "at δ. The limit estimate is the ratio at the smallest δ." % CLAIM2_K2, ""]
    rows = []
    deltas = sorted(set(q[0] for p in pts.values() for q in p), reverse=True)
    for dl in deltas:
        row = [pr.fmt(dl)]
        for K, power in ((1, 2), (2, 3)):
            L = [q[1] for q in pts.get(K, []) if q[0] == dl]
            row += ["%.4g" % L[0], "%.5f" % (L[0] / dl ** power)] if L else ["-", "-"]
        rows.append(row)
    lines += pr.table(["δ", "L (K = 1)", "L/δ² (K = 1)", "L (K = 2)", "L/δ³ (K = 2)"], rows)
    lines.append("")
    if 2 in pts:
        d0, L0 = min(pts[2])
        lines += ["- K = 2: L/δ³ at the smallest δ = %s: **%.5f** (derived limit 2/(3π) = %.5f)"
                  % (pr.fmt(d0), L0 / d0 ** 3, CLAIM2_K2)]
    if 1 in pts:
        d0, L0 = min(pts[1])
        lines += ["- K = 1: L/δ² at the smallest δ = %s: **%.5f** (derived limit 1/2)"
                  % (pr.fmt(d0), L0 / d0 ** 2)]
    lines.append("")
    return [lines]


def load_teachers(run):
    cols, rows = pr.load_table(run, "teachers.csv", ["cell", "t", "teacher", "best_cos", "n_matched"])
    if cols is None:
        return None, {}
    # sort by (cell, t, teacher): read_numeric_csv sorts by (cell, t) only
    order = np.lexsort((cols["teacher"], cols["t"], cols["cell"]))
    cols = {k: v[order] for k, v in cols.items()}
    return cols, pr.cell_slices(cols)


def teacher_series(tcols, sl):
    """t, and {teacher: (best_cos, n_matched)} for one cell."""
    t_all, teach = tcols["t"][sl], tcols["teacher"][sl].astype(int)
    ts = np.unique(t_all)
    out = {}
    for j in np.unique(teach):
        m = teach == j
        out[int(j)] = (t_all[m], tcols["best_cos"][sl][m], tcols["n_matched"][sl][m])
    return ts, out


def one_over_t_guide(ax, ends):
    """c/t over the last two decades, through the end (t, L) of the curve
    that ends highest (so a curve at the rounding floor does not pull it)."""
    ends = [(t, v) for t, v in ends if t > 0 and v > 0 and np.isfinite(v)]
    if not ends:
        return
    tm, vm = max(ends, key=lambda e: e[1])
    c = 3.0 * tm * vm   # a little above that curve's end
    tt = np.geomspace(tm / 100.0, tm, 20)
    ax.plot(tt, c / tt, color="0.3", ls="--", lw=1.1, label=r"$\propto 1/T$")


def local(run, figdir, written, window=None):
    if not load_losses(run):
        run.notes.append("metrics.csv absent: local_zhou skipped")
        return []
    tcols, trows = load_teachers(run)
    colors = pr.k_colors(run.Ks)
    settings = run.settings(drop=("K",))
    vary = run.varying(drop=("K",))
    match = pr.config_get(run.config, "metrics.match_angle")
    r = pr.config_get(run.config, "teacher.neurons", 1)
    flow = pr.config_get(run.config, "train.method", "gd") == "flow"
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    ax, axc, axm = axes
    ends = []
    styles = ["-", "--", "-.", ":"]
    setting0, idx0 = settings[0]
    for j, (setting, idx) in enumerate(settings):
        byK = {}
        for i in idx:
            byK.setdefault(int(run.K[i]), []).append(i)
        for K, cells in sorted(byK.items()):
            good = [i for i in cells if not run.diverged[i]]
            t, v = run.series(good, "loss")
            if len(t) == 0:
                continue
            mean, lo, hi = pr.nanstats(v)
            keep = t > 0
            t, mean, lo, hi = t[keep], pr.positive(mean[keep]), pr.positive(lo[keep]), pr.positive(hi[keep])
            s = pr.thin(len(t))
            label = "m = %d (%d seed%s)" % (K, len(cells), "" if len(cells) == 1 else "s")
            if vary:
                label += ", " + run.setting_text(setting, vary)
            if len(good) > 1:
                ax.fill_between(t[s], lo[s], hi[s], color=colors[K], alpha=0.2, lw=0)
            ax.plot(t[s], mean[s], color=colors[K], ls=styles[j % 4], lw=1.5, label=label)
            ends.append((float(t[-1]), float(mean[-1])))
    one_over_t_guide(ax, ends)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time t" if flow else "iteration t")
    ax.set_ylabel(r"population loss $\frac{1}{2}E(f - f^*)^2$")
    ax.set_title("(a) loss vs t, one curve per m (r = %s teachers)" % r)
    pr.legend(ax, loc="lower left")

    if tcols is None:
        for a in (axc, axm):
            pr.empty_note(a, "no teachers.csv in this run")
        run.notes.append("teachers.csv absent: the alignment panels of local_zhou are empty")
    else:
        tstyles = ["-", "--", ":", "-.", (0, (3, 1, 1, 1))]
        byK = {}
        for i in idx0:
            if not run.diverged[i]:
                byK.setdefault(int(run.K[i]), []).append(i)
        for K, cells in sorted(byK.items()):
            i = min(cells, key=lambda i: run.cell[i])
            sl = trows.get(int(run.cell[i]))
            if sl is None:
                continue
            _, per = teacher_series(tcols, sl)
            for tj, (tt, cos, _) in sorted(per.items()):
                keep = tt > 0
                axc.plot(tt[keep], pr.positive(1.0 - cos[keep]), color=colors[K],
                         ls=tstyles[tj % len(tstyles)], lw=1.2)
            # fraction of students matched, mean over seeds
            fr = []
            for c in cells:
                slc = trows.get(int(run.cell[c]))
                if slc is None:
                    continue
                ts, perc = teacher_series(tcols, slc)
                tot = np.zeros(len(ts))
                for tt, _, nm in perc.values():
                    tot += np.interp(ts, tt, nm)
                fr.append((ts, tot / K))
            if fr:
                ts = fr[0][0]
                frac = np.mean([np.interp(ts, a, b) for a, b in fr], axis=0)
                keep = ts > 0
                axm.plot(ts[keep], frac[keep], color=colors[K], lw=1.5, label="m = %d" % K)
            axc.plot([], [], color=colors[K], lw=1.2, label="m = %d" % K)
        nteach = int(np.max(tcols["teacher"])) + 1 if len(tcols["teacher"]) else 0
        for tj in range(min(nteach, len(tstyles))):
            axc.plot([], [], color="0.4", ls=tstyles[tj], label="teacher %d" % (tj + 1))
        axc.set_xscale("log")
        axc.set_yscale("log")
        axc.set_xlabel("time t" if flow else "iteration t")
        axc.set_ylabel(r"$1 - \max_k \cos(w_k, v_i)$")
        axc.set_title("(b) best-aligned student per teacher (lowest seed)")
        pr.legend(axc, loc="lower left", ncol=2)
        axm.set_xscale("log")
        axm.set_ylim(-0.03, 1.03)
        axm.set_xlabel("time t" if flow else "iteration t")
        axm.set_ylabel("fraction of students matched")
        axm.set_title("(c) students within %s° of a teacher (mean over seeds)"
                      % (pr.fmt(float(match)) if match is not None else "match_angle"))
        pr.legend(axm, loc="best")
    common = run.setting_text(setting0, [a for a in run.params if a != "K" and a not in vary])
    pr.suptitle(fig, pr.run_title(run, "local convergence: loss and alignment per number of students m",
                                  "line: mean over seeds, band: min-max"
                                  + ("; " + common if common else ""), paper=PAPER))
    pr.save(fig, figdir, "local_zhou", written)
    return [local_table(run, tcols, trows, window)]


def local_table(run, tcols, trows, window):
    head = [pr.AXIS_LABEL.get(a, a) for a in run.params]
    rows = []
    for key in run.sorted_keys(run.groups):
        idx = [i for i in run.groups[key] if not run.diverged[i]]
        T, L, sl, npts, cosmin, frac, win = [], [], [], [], [], [], None
        for i in idx:
            s = run.metric_rows.get(int(run.cell[i]))
            if s is None or len(run.metrics["t"][s]) == 0:
                continue
            t, v = run.metrics["t"][s], run.metrics["loss"][s]
            w = window or (float(t[-1]) / 10.0, float(t[-1]))
            win = w
            slope, n = pr.loglog_fit(t, v, w)
            T.append(float(t[-1]))
            L.append(float(v[-1]))
            sl.append(slope)
            npts.append(n)
            ts = trows.get(int(run.cell[i])) if tcols is not None else None
            if ts is not None:
                tt = tcols["t"][ts]
                last = tt == tt.max()
                cosmin.append(float(np.min(tcols["best_cos"][ts][last])))
                frac.append(float(np.sum(tcols["n_matched"][ts][last])) / run.K[i])
        if not T:
            continue
        rows.append([pr.fmt(v) for v in key] + [
            "%d/%d" % (len(T), len(run.groups[key])), pr.fmt(float(np.mean(T))),
            "%.3g" % float(np.mean(L)), "[%s, %s]" % (pr.fmt(win[0]), pr.fmt(win[1])),
            str(min(npts)), "%.3f" % float(np.nanmean(sl)) if np.any(np.isfinite(sl)) else "-",
            "%.3g" % (1.0 - min(cosmin)) if cosmin else "-", "%.2f" % float(np.mean(frac)) if frac else "-"])
    lines = ["## Zhou, Ge & Jin: local convergence", "",
             "`L(T)`: loss at the last logged t, mean over seeds; `slope`: least-squares slope of "
             "log L against log t over the window (default [T/10, T]; a rate 1/T is slope -1); "
             "`1 - best cos`: 1 - cos of the worst teacher's best-aligned student at T "
             "(teachers.csv), worst over seeds; `matched`: students within metrics.match_angle of a teacher at T, as a "
             "fraction of m, mean over seeds.", ""]
    lines += pr.table(head + ["cells", "T", "L(T)", "fit window", "points", "slope",
                              "1 - best cos", "matched"], rows)
    lines.append("")
    return lines


INIT_TITLES = {  # init.method -> the panel's name (Zhou, Ge & Jin's Fig. 1 panels)
    "gaussian": "large initialisation",
    "scaled": "small initialisation (mean-field-like)",
    "near_teacher": "near-teacher initialisation (local)",
}


def trajectories(run, figdir, written):
    """fig1_zhou_trajectories (output.weights, d = 2): every student's path
    w_k(t) in the plane (black, red dot at its end), the teacher lines
    (blue; |v^T x| is the same for v and -v), one panel per cell (at most
    six). As Zhou, Ge & Jin's Fig. 1, qualitatively: the paper gives no step
    size or scales. The large initialisation is not the lazy (NTK) regime:
    that needs an output scaling the model does not have."""
    wdir = os.path.join(run.outdir, "weights")
    cells = [i for i in range(len(run.cell))
             if os.path.exists(os.path.join(wdir, "%d.npy" % run.cell[i]))][:6]
    if not cells:
        run.notes.append("no weights/ (output.weights): fig1_zhou_trajectories skipped")
        return []
    fig, axes = plt.subplots(1, len(cells), figsize=(5.2 * len(cells), 5.4), squeeze=False)
    lines = ["## Zhou, Ge & Jin Fig. 1: the students' trajectories", "",
             "Each student's path w_k(t) from weights/CELL.npy (black, red dot at the end) and "
             "the teacher lines (blue). A qualitative match: the paper gives no step size or "
             "initial scales. The large initialisation is not the lazy (NTK) regime, which needs "
             "an output scaling this model does not have.", "",
             "| cell | initialisation | rows | last t | mean relative move "
             "‖w_k(T) − w_k(0)‖/‖w_k(0)‖ |", "|---|---|---|---|---|"]
    for ax, i in zip(axes[0], cells):
        c = int(run.cell[i])
        W = np.load(os.path.join(wdir, "%d.npy" % c))          # (rows, d, K)
        t = np.load(os.path.join(wdir, "%d.t.npy" % c))
        vpath = os.path.join(wdir, "%d.teacher.npy" % c)
        V = np.load(vpath) if os.path.exists(vpath) else np.zeros((W.shape[1], 0))
        method = str(pr.cell_param(run, i, "init_method", "init.method", "scaled"))
        if W.shape[1] != 2:
            pr.empty_note(ax, "d = %d: the trajectories are drawn for d = 2" % W.shape[1])
            continue
        reach = max(float(np.abs(W).max()), float(np.abs(V).max()) if V.size else 0.0) * 1.1
        for l in range(V.shape[1]):
            u = V[:, l] / np.linalg.norm(V[:, l])
            ax.plot([-reach * u[0], reach * u[0]], [-reach * u[1], reach * u[1]],
                    color="tab:blue", lw=1.2, alpha=0.8,
                    label="teacher directions" if l == 0 else None)
            ax.plot(*V[:, l], "o", color="tab:blue", ms=5)
        for k in range(W.shape[2]):
            ax.plot(W[:, 0, k], W[:, 1, k], color="k", lw=0.8,
                    label="students w_k(t)" if k == 0 else None)
        ax.plot(W[-1, 0, :], W[-1, 1, :], "o", color="tab:red", ms=4, label="end positions")
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.set_xlabel("$w_1$")
        ax.set_ylabel("$w_2$")
        ax.set_title("%s\n(cell %d, K = %d, t up to %s)"
                     % (INIT_TITLES.get(method, "init.method " + method), c, W.shape[2],
                        pr.fmt(float(t[-1]))))
        pr.legend(ax, loc="lower right", fontsize=8)
        n0 = np.linalg.norm(W[0], axis=0)
        move = np.linalg.norm(W[-1] - W[0], axis=0) / np.where(n0 > 0, n0, np.nan)
        lines.append("| %d | %s | %d | %s | %.3g |" % (c, INIT_TITLES.get(method, method),
                                                     len(t), pr.fmt(float(t[-1])),
                                                     float(np.nanmean(move))))
    pr.suptitle(fig, pr.run_title(run, "Fig. 1 (qualitative): student trajectories in d = 2",
                                  paper=PAPER))
    pr.save(fig, figdir, "fig1_zhou_trajectories", written)
    return [lines + [""]]
