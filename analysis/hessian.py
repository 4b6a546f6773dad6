"""hessian.py - Hessian spectra along the trajectory (metrics.hessian:
spectrum.csv and hessian.csv, configs/wang2021_hessian.yaml). Called by
plot_run.py, in addition to the paper's own figures, when a run has them.

- hessian_spectrum: one row per K (the lowest non-diverged seed of the
  reference setting): (a) every logged eigenvalue against t (symlog y); the
  d(K-1) smallest, the modes that vanish at the limit W = w* q^T (rotations
  of the columns of W orthogonal to q), in grey; (b) the smallest eigenvalue,
  the (d(K-1)+1)-th smallest (the smallest outside those modes) and
  vec(V)^T H vec(V)/||V||^2 (quantity (9) per unit ||V||^2) against t;
  (c) n_negative (eigenvalues below -1e-10 max|eigenvalue|, hessian.csv).
  A dotted line marks t_q9_positive (cells.csv) in every panel.

summary.md: per cell t_q9_positive next to the first logged t at which
n_negative = 0 (no eigenvalue below the tolerance: the Hessian is positive
semi-definite up to rounding) and the first logged t at which the smallest
eigenvalue outside the d(K-1) limit zero modes is > 0, each with the logged
t before it (the crossing lies in between); means per setting.
"""
import numpy as np

import plot_run as pr
from plot_run import plt


def zero_modes(run, i):
    d = int(float(pr.cell_param(run, i, "d", "model.d", 0) or 0))
    return d * (int(run.K[i]) - 1)


def first_true(t, ok):
    """(first t where ok holds and keeps holding to the end, the logged t
    before it); (nan, nan) when it never holds at the end."""
    if len(t) == 0 or not ok[-1]:
        return np.nan, np.nan
    bad = np.nonzero(~ok)[0]
    j = 0 if len(bad) == 0 else bad[-1] + 1
    return float(t[j]), float(t[j - 1]) if j > 0 else np.nan


def per_cell(run, spec, srows, hcols, hrows, i):
    """{t, min_eig, n_negative, restricted, lam_m (t_s, values)} of cell i."""
    c = int(run.cell[i])
    out = {}
    sl = hrows.get(c) if hcols is not None else None
    if sl is not None:
        out["t"] = hcols["t"][sl]
        for k in ("min_eig", "max_eig", "n_negative", "restricted_min", "q9_over_v2"):
            out[k] = hcols[k][sl]
    ss = srows.get(c) if spec is not None else None
    if ss is not None:
        t, idx, ev = spec["t"][ss], spec["index"][ss].astype(int), spec["eigenvalue"][ss]
        m = zero_modes(run, i)
        ts = np.unique(t)
        lam = np.full(len(ts), np.nan)
        sel = idx == m
        lam[np.searchsorted(ts, t[sel])] = ev[sel]
        out["spec"] = (t, idx, ev, m)
        out["lam_m"] = (ts, lam)
    return out


def figures(run, figdir, written):
    spec, srows = pr.load_table(run, "spectrum.csv", ["cell", "t", "index", "eigenvalue"])
    hcols, hrows = pr.load_table(run, "hessian.csv", ["cell", "t", "min_eig", "max_eig", "n_negative",
                                                      "restricted_min", "q9_over_v2"])
    present = set(srows) | set(hrows)
    setting, idx = run.reference_setting(present)
    chosen = run.pick_cells(idx, present)
    if chosen:
        draw(run, spec, srows, hcols, hrows, setting, chosen, figdir, written)
    else:
        run.notes.append("no non-diverged cell with Hessian rows: hessian_spectrum skipped")
    return [table(run, spec, srows, hcols, hrows)]


def draw(run, spec, srows, hcols, hrows, setting, chosen, figdir, written):
    colors = pr.k_colors(run.Ks)
    Ks = sorted(chosen)
    fig, axes = plt.subplots(len(Ks), 3, figsize=(16, 3.6 * len(Ks) + 0.9), squeeze=False)
    for r, K in enumerate(Ks):
        i = chosen[K]
        d = per_cell(run, spec, srows, hcols, hrows, i)
        tq = run.num["t_q9_positive"][i]
        seed = "seed %s" % pr.fmt(run.value["seed"][i]) if "seed" in run.value else "cell %d" % run.cell[i]
        ax, axm, axn = axes[r]
        if "spec" in d:
            t, index, ev, m = d["spec"]
            zm = index < m
            ax.scatter(t[zm], ev[zm], s=2, color="0.65", lw=0,
                       label="the d(K-1) = %d smallest (zero at the limit)" % m)
            ax.scatter(t[~zm], ev[~zm], s=2, color=colors[K], lw=0, label="the others")
            ax.set_yscale("symlog", linthresh=1e-3)
            pr.legend(ax, loc="lower right", markerscale=4, fontsize=7)
        else:
            pr.empty_note(ax, "no spectrum.csv")
        ax.set_title("(a) Hessian eigenvalues vs t, K = %d (%s)" % (K, seed))
        ax.set_ylabel("eigenvalue (symlog)")
        if "t" in d:
            axm.plot(d["t"], d["min_eig"], color="k", lw=1.2, label="smallest eigenvalue")
            axm.plot(d["t"], d["restricted_min"], color="C3", lw=1.0, ls="--",
                     label=r"$\mathrm{vec}(V)^\top H \mathrm{vec}(V)/\Vert V\Vert^2$ (9)")
            axn.plot(d["t"], d["n_negative"], color=colors[K], lw=1.3, drawstyle="steps-post")
        if "lam_m" in d and K > 1:
            ts, lam = d["lam_m"]
            axm.plot(ts, lam, color=colors[K], lw=1.3,
                     label="smallest outside the %d limit zero modes" % zero_modes(run, i))
        axm.axhline(0.0, color="0.3", lw=0.7)
        axm.set_yscale("symlog", linthresh=1e-3)
        axm.set_title("(b) smallest eigenvalues vs t, K = %d" % K)
        axm.set_ylabel("eigenvalue (symlog)")
        pr.legend(axm, loc="lower right", fontsize=7)
        axn.set_title("(c) eigenvalues below -1e-10 max|λ| (n_negative), K = %d" % K)
        axn.set_ylabel("n_negative")
        for a in (ax, axm, axn):
            if np.isfinite(tq):
                a.axvline(tq, color="C2", lw=1.0, ls=":")
            pr.t_axis(a, run)
        if np.isfinite(tq):
            axn.plot([], [], color="C2", ls=":", label="t_q9_positive = %s" % pr.fmt(tq))
            pr.legend(axn, loc="upper right")
    pr.suptitle(fig, pr.run_title(run, "Hessian spectrum along the trajectory, one seed per K",
                                  run.setting_text(setting)))
    pr.save(fig, figdir, "hessian_spectrum", written)


def table(run, spec, srows, hcols, hrows):
    head = [pr.AXIS_LABEL.get(a, a) for a in run.params]
    rows, means = [], {}
    for i in sorted(range(len(run.cell)), key=lambda i: run.cell[i]):
        d = per_cell(run, spec, srows, hcols, hrows, i)
        if not d:
            continue
        tq = run.num["t_q9_positive"][i]
        tn, tn0 = first_true(d["t"], d["n_negative"] == 0) if "t" in d else (np.nan, np.nan)
        if "lam_m" in d:
            ts, lam = d["lam_m"]
            tl, tl0 = first_true(ts, np.isfinite(lam) & (lam > 0))
        else:
            tl, tl0 = np.nan, np.nan
        key = run.key[i]
        rows.append([pr.fmt(v) for v in key] + [
            pr.fmt(run.value["seed"][i]) if "seed" in run.value else "-",
            pr.fmt(tq), "(%s, %s]" % (pr.fmt(tn0), pr.fmt(tn)) if np.isfinite(tn) else "never",
            "(%s, %s]" % (pr.fmt(tl0), pr.fmt(tl)) if np.isfinite(tl) else "never"])
        means.setdefault(key, []).append((tq, tn, tl))
    lines = ["## Hessian: positive definiteness against quantity (9)", "",
             "`t_q9>0`: first t with quantity (9) > 0 (cells.csv, exact). `n_negative = 0`: the "
             "logged interval (before, first] in which the Hessian stops having eigenvalues below "
             "-1e-10 max|λ| (hessian.csv's tolerance) for good. `λ_(m+1) > 0`: the same for the "
             "smallest eigenvalue outside the m = d(K-1) modes that vanish at the limit "
             "W = w* q^T (spectrum.csv index m; needs metrics.hessian.bottom > m). "
             "`never`: not by the end of the run.", ""]
    lines += pr.table(head + ["seed", "t_q9>0", "n_negative = 0 in", "λ_(m+1) > 0 in"], rows)
    lines += ["", "Means per setting over the cells where the event happened:", ""]
    mrows = []
    for key in run.sorted_keys(means):
        v = np.array(means[key], dtype=float)
        cnt = lambda c: "%d/%d" % (int(np.sum(np.isfinite(v[:, c]))), len(v))
        mean = lambda c: pr.fmt(float(np.mean(v[np.isfinite(v[:, c]), c]))) if np.any(np.isfinite(v[:, c])) else "-"
        mrows.append([pr.fmt(x) for x in key] + [cnt(0), mean(0), cnt(1), mean(1), cnt(2), mean(2)])
    lines += pr.table(head + ["t_q9>0 reached", "mean", "n_negative = 0 reached", "mean first t",
                              "λ_(m+1) > 0 reached", "mean first t"], mrows)
    lines.append("")
    return lines
