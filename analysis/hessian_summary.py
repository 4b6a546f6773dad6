#!/usr/bin/env python3
"""hessian_summary.py RUN_DIR - when does the Hessian turn positive definite
(outside the zero modes) compared with quantity (9)?

Reads cells.csv, hessian.csv and spectrum.csv of a run with metrics.hessian
(configs/wang2021_hessian.yaml). Per cell, with m = d(K-1) the number of
zero modes of the limit W = w* q^T (tests/unit/test_hessian.c derives it):
  t_q9       first iteration with quantity (9) > 0 (cells.csv, exact)
  lam_m>0    first logged iteration whose (m+1)-th smallest eigenvalue is
             > 0 (index m in spectrum.csv), with the logged iteration before
             it: the crossing lies in (before, first]
  stays      is it positive at every later logged iteration?
  n_neg      n_negative (hessian.csv) at t_q9 and at the end
Prints one line per cell and the means per K."""
import csv
import sys
from collections import defaultdict


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def main(run):
    cells = {int(r["cell"]): r for r in read(f"{run}/cells.csv")}
    spec = defaultdict(dict)  # cell -> t -> {index: eigenvalue}
    for r in read(f"{run}/spectrum.csv"):
        spec[int(r["cell"])].setdefault(int(r["t"]), {})[int(r["index"])] = float(r["eigenvalue"])
    hrows = defaultdict(dict)
    for r in read(f"{run}/hessian.csv"):
        hrows[int(r["cell"])][int(r["t"])] = r
    print("cell K seed  t_q9  lam_m>0 in (before, first]  stays  n_neg@t_q9 n_neg@end  lam_m@t_q9   lam_min@end")
    per_k = defaultdict(list)
    for c in sorted(cells):
        row = cells[c]
        K, d = int(row["K"]), int(row["d"]) if "d" in row else 10
        m = d * (K - 1)
        ts = sorted(spec[c])
        t_q9 = int(row["t_q9_positive"]) if row["t_q9_positive"] else None
        first, before = None, None
        for i, t in enumerate(ts):
            if m in spec[c][t] and spec[c][t][m] > 0:
                first, before = t, ts[i - 1] if i else None
                break
        stays = first is not None and all(spec[c][t].get(m, 1.0) > 0 for t in ts if t >= first)
        nneg_q9 = hrows[c][t_q9]["n_negative"] if t_q9 in hrows[c] else "-"
        end = ts[-1]
        lam_q9 = spec[c][t_q9].get(m) if t_q9 in spec[c] else None
        print(f"{c:4d} {K:2d} {row['seed']:>4}  {t_q9 if t_q9 is not None else '-':>5}  "
              f"({before}, {first}]{'':8s} {'yes' if stays else 'no':>5}  {nneg_q9:>10} "
              f"{hrows[c][end]['n_negative']:>9}  {lam_q9 if lam_q9 is not None else float('nan'):11.4g} "
              f"{spec[c][end][0]:12.4g}")
        if t_q9 is not None and first is not None:
            per_k[K].append((t_q9, before if before is not None else 0, first))
    print("\nmeans per K over cells where both happened: t_q9, lam_m>0 crossing in (before, first]")
    for K in sorted(per_k):
        v = per_k[K]
        n = len(v)
        print(f"K = {K:2d}: {n} cells, t_q9 {sum(x[0] for x in v) / n:.0f}, "
              f"lam_m > 0 in ({sum(x[1] for x in v) / n:.0f}, {sum(x[2] for x in v) / n:.0f}]")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
