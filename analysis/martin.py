"""martin.py - figures and summary after Martin, Bach & Biroli (2024; seed
004, abstract only): quadratic network f(x) = x^T A x, A = W^T W / m, m*
teachers, population risk R = ||A - A*||_F^2 + tr(A - A*)^2 / 2, gradient
flow (docs/reproductions.md). Called by plot_run.py for quadratic runs with
several teachers or the 1/m normalisation.

- recovery_martin: (a) the final risk against m/m* (log y), one line per
  setting of the other axes (d, init.method, ...), mean over seeds with a
  min-max band; (b) the overlap with the teachers at the end: the sum over
  teachers of teachers.csv's `energy` (the students' share of squared weight
  along each teacher; summed over orthonormal teachers, the overlap with
  the teacher subspace, at most 1), and the smallest best-aligned cosine;
  (c) the risk against t per m for the first setting.
"""
import numpy as np

import plot_run as pr
from plot_run import plt

PAPER = "Martin, Bach & Biroli (2024)"


def final_overlap(tcols, trows, cell):
    """(sum of energy, min best_cos) over the teachers at the cell's last t."""
    sl = trows.get(cell)
    if sl is None:
        return np.nan, np.nan
    t = tcols["t"][sl]
    last = t == t.max()
    return float(np.sum(tcols["energy"][sl][last])), float(np.min(tcols["best_cos"][sl][last]))


def figures(run, figdir, written):
    cols, rows = pr.load_table(run, "metrics.csv", ["cell", "t", "train_loss", "pop_loss"])
    if cols is None:
        run.notes.append("metrics.csv absent: recovery_martin skipped")
        return []
    cols["loss"] = np.where(np.isfinite(cols["pop_loss"]), cols["pop_loss"], cols["train_loss"])
    run.metrics, run.metric_rows = cols, rows
    try:
        tcols, trows = pr.load_table(run, "teachers.csv", ["cell", "t", "teacher", "best_cos", "energy"])
    except KeyError:  # a teachers.csv without the energy column: no overlap, only cosines
        tcols, trows = pr.load_table(run, "teachers.csv", ["cell", "t", "teacher", "best_cos"])
        tcols["energy"] = np.full(len(tcols["cell"]), np.nan)
        run.notes.append("teachers.csv has no energy column: no overlap in recovery_martin")
    mstar = int(pr.config_get(run.config, "teacher.neurons", 1) or 1)
    flow = pr.config_get(run.config, "train.method", "gd") == "flow"
    settings = run.settings(drop=("K",))
    vary = run.varying(drop=("K",))
    fig, (ax, axo, axt) = plt.subplots(1, 3, figsize=(17, 5.2))
    cmap = plt.get_cmap("tab10")
    table_rows = []
    for j, (setting, idx) in enumerate(settings):
        color = cmap(j % 10)
        label = run.setting_text(setting, vary) or "all cells"
        byK = {}
        for i in idx:
            if not run.diverged[i]:
                byK.setdefault(int(run.K[i]), []).append(i)
        x, rm, rlo, rhi, om, cm = [], [], [], [], [], []
        for K in sorted(byK):
            cells = byK[K]
            risk = []
            for i in cells:
                sl = rows.get(int(run.cell[i]))
                risk.append(float(cols["loss"][sl][-1]) if sl is not None and sl.stop > sl.start
                            else float(run.num["final_train_loss"][i]))
            risk = np.array(risk)
            x.append(K / mstar)
            rm.append(np.mean(risk))
            rlo.append(np.min(risk))
            rhi.append(np.max(risk))
            if tcols is not None:
                ov = np.array([final_overlap(tcols, trows, int(run.cell[i])) for i in cells])
                om.append(np.mean(ov[:, 0]))   # NaN when there is no energy column
                cm.append(np.min(ov[:, 1]))
            else:
                om.append(np.nan)
                cm.append(np.nan)
            table_rows.append([pr.fmt(v) for a, v in setting if a in vary] + [
                str(K), "%.3g" % (K / mstar), "%d" % len(cells), "%.3g" % np.mean(risk),
                "%.3g" % np.min(risk), "%.3g" % np.max(risk),
                "%.4f" % om[-1] if np.isfinite(om[-1]) else "-",
                "%.4f" % cm[-1] if np.isfinite(cm[-1]) else "-"])
        if not x:
            continue
        ax.fill_between(x, pr.positive(rlo), pr.positive(rhi), color=color, alpha=0.2, lw=0)
        ax.plot(x, pr.positive(rm), color=color, marker="o", lw=1.5, label=label)
        if tcols is not None:
            axo.plot(x, om, color=color, marker="o", lw=1.5, label=label + ": Σ energy")
            axo.plot(x, cm, color=color, marker="s", lw=1.0, ls="--", mfc="none",
                     label=label + ": min best cos")
    for a in (ax, axo):
        a.axvline(1.0, color="0.4", lw=0.8, ls=":")
        a.set_xscale("log")
        a.set_xlabel("m / m*  (m* = %d)" % mstar)
        pr.plain_log_ticks(a.xaxis, sorted(set(float(k) / mstar for k in run.K)))
    ax.set_yscale("log")
    ax.set_ylabel("population risk R at the end")
    ax.set_title("(a) final risk vs m/m* (mean over seeds, band: min-max)")
    pr.legend(ax, loc="best")
    if tcols is None:
        pr.empty_note(axo, "no teachers.csv in this run")
        run.notes.append("teachers.csv absent: the overlap panel of recovery_martin is empty")
    else:
        axo.set_ylabel("overlap at the end")
        axo.set_title("(b) Σ_teachers energy (overlap) and min best cos")
        pr.legend(axo, loc="best", fontsize=7)
    # (c) risk against t per m for the first setting
    setting0, idx0 = settings[0]
    colors = pr.k_colors(run.Ks)
    for K in run.Ks:
        cells = [i for i in idx0 if run.K[i] == K and not run.diverged[i]]
        if not cells:
            continue
        t, v = run.series(cells, "loss")
        if len(t) == 0:
            continue
        mean = pr.nanstats(v)[0]
        keep = t > 0
        axt.plot(t[keep], pr.positive(mean[keep]), color=colors[K], lw=1.3,
                 label="m/m* = %s" % pr.fmt(K / mstar))
    axt.set_xscale("log")
    axt.set_yscale("log")
    axt.set_xlabel("time t" if flow else "iteration t")
    axt.set_ylabel("population risk R")
    axt.set_title("(c) risk vs t" + (", " + run.setting_text(setting0, vary) if vary else ""))
    pr.legend(axt, loc="lower left", fontsize=7, ncol=2)
    common = run.setting_text(setting0, [a for a in run.params if a != "K" and a not in vary])
    pr.suptitle(fig, pr.run_title(run, "recovery of A* = W*ᵀW*/m* by m students, "
                                  + ("gradient flow" if flow else "gradient descent"),
                                  common, paper=PAPER))
    pr.save(fig, figdir, "recovery_martin", written)
    lines = ["## Martin, Bach & Biroli: recovery against m/m*", "",
             "m* = %d teachers. `risk`: population risk at the end (mean, min, max over seeds); "
             "`overlap`: Σ over teachers of teachers.csv's energy at the end (mean over seeds); "
             "`min best cos`: the worst teacher's best-aligned student (worst over seeds)." % mstar, ""]
    head = [pr.AXIS_LABEL.get(a, a) for a, _ in settings[0][0] if a in vary]
    lines += pr.table(head + ["m", "m/m*", "cells", "risk", "min", "max", "overlap",
                              "min best cos"], table_rows)
    lines.append("")
    return [lines]
