#!/usr/bin/python3
"""family_summary.py - numbers for the model family (docs/reproductions.md).

    /usr/bin/python3 analysis/family_summary.py OUTDIR [--at T1,T2,...]

Reads OUTDIR/manifest.json, cells.csv, metrics.csv and (if present)
teachers.csv, and prints one markdown row per cell:

- the cell's grid values, status, the final t and loss (train_loss: the
  population loss in the population regime);
- the loss at the times of --at (log-log interpolation between logged rows;
  empty outside the logged range);
- Xu & Du's effective exponent log(L) / log(eta t) at the last row (for
  gradient descent; for gradient flow eta t is replaced by the time t), and
  the local log-log slope d log L / d log t fitted (least squares) over the
  logged rows in the last decade of t;
- from teachers.csv at the last row: the smallest best_cos over teachers,
  the total number of matched students, and the summed energy (the
  students' share of squared weight along the teachers: the overlap with the
  teacher subspace for orthonormal teachers).

Everything is computed from the logged values only, deterministically.
Standard library only.
"""
import csv
import json
import math
import sys


def read_rows(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def num(s):
    return float(s) if s not in ("", None) else math.nan


def interp_loglog(ts, ls, t):
    for (t0, l0), (t1, l1) in zip(zip(ts, ls), zip(ts[1:], ls[1:])):
        if t0 <= t <= t1 and t0 > 0 and l0 > 0 and l1 > 0:
            if t1 == t0:
                return l0
            a = (math.log(t) - math.log(t0)) / (math.log(t1) - math.log(t0))
            return math.exp((1 - a) * math.log(l0) + a * math.log(l1))
    return math.nan


def local_slope(ts, ls):
    pts = [(math.log(t), math.log(l)) for t, l in zip(ts, ls)
           if t > 0 and l > 0 and t >= ts[-1] / 10]
    if len(pts) < 2:
        return math.nan
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else math.nan


def fmt(v):
    return "" if isinstance(v, float) and math.isnan(v) else (
        "%.4g" % v if isinstance(v, float) else str(v))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    out = argv[1]
    at = []
    if len(argv) > 3 and argv[2] == "--at":
        at = [float(x) for x in argv[3].split(",")]
    man = json.load(open(out + "/manifest.json"))
    cfg = man.get("config", {})
    cells = read_rows(out + "/cells.csv")
    metrics = read_rows(out + "/metrics.csv")
    teachers = read_rows(out + "/teachers.csv")
    fixed = {"cell", "status", "iterations", "t_q9_positive", "t_lemma1",
             "t_gamma", "t_gamma_bound", "final_train_loss", "final_test_loss",
             "final_dist", "wall_s"}
    axes = [k for k in (cells[0].keys() if cells else []) if k not in fixed]
    by_cell = {}
    for r in metrics:
        by_cell.setdefault(r["cell"], []).append(r)
    teach = {}
    for r in teachers:
        teach.setdefault(r["cell"], []).append(r)
    flow = cfg.get("train", {}).get("method") == "flow"
    head = axes + ["status", "t_end", "loss_end"] + ["L(%g)" % t for t in at] + [
        "log L/log(eta t)" if not flow else "log L/log t", "slope_last_decade",
        "min_best_cos", "n_matched", "energy"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for c in cells:
        rows = by_cell.get(c["cell"], [])
        if not rows:
            continue
        ts = [num(r["t"]) for r in rows]
        ls = [num(r["train_loss"]) for r in rows]
        # eta t, or the time t where the cell takes no steps (eta empty: a flow)
        eta = num(c["eta"]) if "eta" in c else cfg.get("train", {}).get("eta", 1.0)
        scale = 1.0 if flow or math.isnan(eta) else eta
        te, le = ts[-1], ls[-1]
        expo = (math.log(le) / math.log(scale * te)
                if le > 0 and scale * te > 1 else math.nan)
        trow = [r for r in teach.get(c["cell"], []) if num(r["t"]) == te]
        best = min((num(r["best_cos"]) for r in trow), default=math.nan)
        matched = sum(int(num(r["n_matched"])) for r in trow) if trow else ""
        energy = sum(num(r["energy"]) for r in trow) if trow else math.nan
        vals = [c[a] for a in axes] + [c["status"], fmt(te), fmt(le)]
        vals += [fmt(interp_loglog(ts, ls, t)) for t in at]
        vals += [fmt(expo), fmt(local_slope(ts, ls)), fmt(best), str(matched),
                 fmt(energy)]
        print("| " + " | ".join(vals) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
