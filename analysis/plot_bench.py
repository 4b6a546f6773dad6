#!/usr/bin/python3
"""plot_bench.py - figures of `make bench` (scripts/bench.sh).

    /usr/bin/python3 analysis/plot_bench.py out/bench/bench.csv [-o FIGDIR]

reads the rows benchmark,setting,value,unit and writes into FIGDIR (default:
figures/ next to the CSV) PNG + PDF figures and bench.md:

- bench_strong: strong scaling of the sharded engine: ms per iteration
  against the rank count at fixed n (one line per activation, d, n), with
  the ideal 1/ranks line from one rank; and the speedup over one rank
  against n.
- bench_weak: time per iteration against n per activation and d and rank
  count, with the memory and compute bounds and the NumPy step; and the
  time per sample and rank (ms * ranks / n: flat = ideal weak scaling).
- bench_moments: the fourth-moment engine's tensor build time and time per
  iteration against n (the build grows like n, an iteration does not).
- bench.md: every row as a table, grouped by benchmark (load balance,
  machine facts, ...).

Settings are free text; numbers are taken from `key=value` tokens (act
names first, `(2 ranks)` read as ranks=2) and the quantity from the text
after the last ': ' (or the text without the tokens). Rows it does not
recognise are only tabled. A figure with nothing to draw is not written.
"""
import argparse
import csv
import math
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot_run as pr  # noqa: E402  (the house style: save, legend, ticks)
from plot_run import plt  # noqa: E402

TOKEN = re.compile(r"([A-Za-z_]+)=([0-9.eE+-]+)")
RANKS = re.compile(r"\((\d+) ranks?\)")
ACTIVATIONS = ("quadratic", "relu", "abs")


def fields(line):
    """benchmark, setting, value, unit of one line. bench.sh writes the
    setting unquoted, and some settings hold commas ("STREAM triad, 1
    process"): the first field is the benchmark, the last two the value and
    the unit, everything between the setting."""
    f = next(csv.reader([line]))
    if len(f) < 4:
        return None
    return {"benchmark": f[0], "setting": ",".join(f[1:-2]).strip(), "value": f[-2], "unit": f[-1]}


def parse(path):
    rows = []
    with open(path, newline="") as fh:
        lines = [line.rstrip("\r\n") for line in fh]
    if not lines or not lines[0].startswith("benchmark,"):
        raise KeyError("no header benchmark,setting,value,unit")
    for line in lines[1:]:
        r = fields(line) if line.strip() else None
        if r is None or not r["benchmark"]:
            continue
        setting = r["setting"]
        head, _, what = setting.rpartition(": ")
        if not head:
            head, what = setting, ""
        keys = {k: float(v) for k, v in TOKEN.findall(head)}
        m = RANKS.search(head)
        if m and "ranks" not in keys:
            keys["ranks"] = float(m.group(1))
        first = head.split()[0] if head.split() else ""
        act = first if first in ACTIVATIONS else ""
        if not what:
            what = RANKS.sub("", TOKEN.sub("", head)).strip()
        rows.append({"bench": r["benchmark"], "setting": setting, "what": what.strip(),
                     "keys": keys, "act": act, "value": pr.to_float(r.get("value", "")),
                     "text": r.get("value", ""), "unit": r.get("unit", "")})
    return rows


QUALIFIED = re.compile(r"^(.*?)(?: \(([^()]*)\))?$")


def named(what, base, qualifier=None):
    """Is the quantity `what` the one named `base`, with `qualifier` in
    parentheses ("ms/iteration (wall)") or, for qualifier None, without
    one? bench.sh qualifies timings as wall or CPU once it measures both."""
    m = QUALIFIED.match(what)
    return m.group(1) == base and m.group(2) == qualifier


def engine_series(rows, what, qualifier=None):
    """{(act, d): {ranks: [(n, value)]}} of the engine rows named `what`
    (with that qualifier; wall-clock ones when qualifier is None and the
    rows are qualified)."""
    quals = [qualifier] if qualifier else [None, "wall"]
    out = {}
    for r in rows:
        k = r["keys"]
        if (r["bench"] != "engine" or not any(named(r["what"], what, q) for q in quals)
                or "n" not in k or not np.isfinite(r["value"])):
            continue
        ranks = int(k.get("ranks", 1))
        out.setdefault((r["act"], int(k.get("d", 0))), {}).setdefault(ranks, []).append(
            (k["n"], r["value"]))
    for v in out.values():
        for ranks in v:
            v[ranks].sort()
    return out


def numpy_series(rows):
    out = {}
    for r in rows:
        k = r["keys"]
        if r["bench"] == "engine" and (named(r["what"], "numpy step") or named(
                r["what"], "numpy step", "wall")) and "n" in k:
            out.setdefault((r["act"], int(k.get("d", 0))), []).append((k["n"], r["value"]))
    return {key: sorted(v) for key, v in out.items()}


def colors_for(keys):
    cmap = plt.get_cmap("tab10")
    return {key: cmap(j % 10) for j, key in enumerate(sorted(keys))}


def strong(rows, figdir, written):
    ms = engine_series(rows, "ms/iteration")
    if not any(len(v) > 1 for v in ms.values()):
        return False
    fig, (ax, axs) = plt.subplots(1, 2, figsize=(13, 5))
    col = colors_for(ms)
    styles = ["-", "--", "-.", ":"]
    for key, byr in sorted(ms.items()):
        act, d = key
        ranks = sorted(byr)
        ns = sorted(set(n for r in ranks for n, _ in byr[r]))
        for j, n in enumerate(ns):
            pts = [(r, v) for r in ranks for nn, v in byr[r] if nn == n]
            if len(pts) < 2:
                continue
            x = [p[0] for p in pts]
            y = [p[1] for p in pts]
            ax.plot(x, y, color=col[key], ls=styles[j % 4], marker="o",
                    label="%s d=%d n=%s" % (act or "?", d, pr.fmt(n)))
            ax.plot(x, [y[0] * x[0] / r for r in x], color=col[key], ls=styles[j % 4], lw=0.6, alpha=0.5)
        if 1 in byr:
            one = dict(byr[1])
            for r in ranks:
                if r == 1:
                    continue
                pts = [(n, one[n] / v) for n, v in byr[r] if n in one and v > 0]
                if pts:
                    axs.plot([p[0] for p in pts], [p[1] for p in pts], color=col[key], marker="o",
                             label="%s d=%d, %d ranks" % (act or "?", d, r))
    # CPU time per rank, when bench.sh measures it: what the ranks computed,
    # without the waiting a loaded machine adds to the wall clock
    cpu = engine_series(rows, "ms/iteration", "CPU, per rank")
    for key, byr in sorted(cpu.items()):
        for n in sorted(set(n for r in byr for n, _ in byr[r])):
            pts = [(r, v) for r in sorted(byr) for nn, v in byr[r] if nn == n]
            if len(pts) > 1 and key in col:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=col[key], ls=":",
                        marker="x", lw=1.0)
    if cpu:
        ax.plot([], [], color="0.4", ls=":", marker="x", label="CPU time per rank")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    pr.plain_log_ticks(ax.xaxis, [float(r) for v in ms.values() for r in v])
    ax.set_xlabel("ranks (one team)")
    ax.set_ylabel("ms per iteration")
    ax.set_title("(a) strong scaling at fixed n, wall clock (thin: ideal 1/ranks)")
    pr.legend(ax, loc="best", fontsize=7)
    allr = sorted(set(r for v in ms.values() for r in v))
    for r in allr:
        if r > 1:
            axs.axhline(r, color="0.5", ls=":", lw=0.8)
    axs.set_xscale("log")
    axs.set_xlabel("samples n")
    axs.set_ylabel("speedup over 1 rank")
    axs.set_title("(b) speedup vs n (dotted: ideal)")
    pr.legend(axs, loc="best", fontsize=7)
    pr.suptitle(fig, "make bench: strong scaling of the sharded engine (K = 10)\n"
                "timings on a shared machine: read the trends, not the digits")
    pr.save(fig, figdir, "bench_strong", written)
    return True


def weak(rows, figdir, written):
    ms = engine_series(rows, "ms/iteration")
    if not ms:
        return False
    mem = engine_series(rows, "memory bound")
    comp = engine_series(rows, "compute bound")
    npy = numpy_series(rows)
    fig, (ax, axw) = plt.subplots(1, 2, figsize=(13, 5))
    col = colors_for(ms)
    for key, byr in sorted(ms.items()):
        act, d = key
        for r in sorted(byr):
            pts = byr[r]
            x = np.array([p[0] for p in pts])
            y = np.array([p[1] for p in pts])
            ls = "-" if r == 1 else "--"
            ax.plot(x, y, color=col[key], ls=ls, marker="o", label="%s d=%d, %d rank%s" % (
                act or "?", d, r, "" if r == 1 else "s"))
            axw.plot(x, y * r / x * 1e6, color=col[key], ls=ls, marker="o",
                     label="%s d=%d, %d rank%s" % (act or "?", d, r, "" if r == 1 else "s"))
        for series, mk, what in ((mem, "v", "memory bound"), (comp, "^", "compute bound")):
            b = series.get(key, {}).get(1)
            if b:
                ax.plot([p[0] for p in b], [p[1] for p in b], color=col[key], ls=":", marker=mk,
                        ms=4, lw=0.8, label="%s d=%d: %s (1 rank)" % (act or "?", d, what))
        if key in npy:
            ax.plot([p[0] for p in npy[key]], [p[1] for p in npy[key]], color=col[key], lw=0,
                    marker="x", ms=7, label="%s d=%d: NumPy step" % (act or "?", d))
    for a in (ax, axw):
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("samples n")
    ax.set_ylabel("ms per iteration")
    ax.set_title("(a) time per iteration vs n (solid: 1 rank, dashed: 2)")
    axw.set_ylabel("ns per sample and rank (ms x ranks / n)")
    axw.set_title("(b) weak-scaling view: flat and equal across ranks = ideal")
    pr.legend(ax, loc="upper left", fontsize=6)
    pr.legend(axw, loc="best", fontsize=7)
    pr.suptitle(fig, "make bench: sharded engine time per iteration against n, bounds, NumPy\n"
                "timings on a shared machine: read the trends, not the digits")
    pr.save(fig, figdir, "bench_weak", written)
    return True


def moments(rows, figdir, written):
    build, per = [], []
    for r in rows:
        k = r["keys"]
        if r["bench"] != "moments" or "n" not in k or not np.isfinite(r["value"]):
            continue
        if r["setting"].startswith("tensor build"):
            build.append((k["n"], r["value"], r["unit"]))
        elif r["setting"].startswith("per iteration"):
            per.append((k["n"], r["value"], r["unit"]))
    if not build and not per:
        return False
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(12, 4.6))
    if build:
        build.sort()
        x = np.array([b[0] for b in build])
        y = np.array([b[1] for b in build])
        ax.plot(x, y, marker="o", color="C0", label="tensor build")
        pos = y > 0
        if np.any(pos):
            c = math.exp(float(np.mean(np.log(y[pos] / x[pos]))))
            ax.plot(x, c * x, color="0.4", ls="--", lw=0.9, label="∝ n")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("build time (%s)" % build[0][2])
        pr.legend(ax, loc="best")
    else:
        pr.empty_note(ax, "no build rows")
    ax.set_xlabel("samples n")
    ax.set_title("(a) fourth-moment tensor build vs n")
    if per:
        per.sort()
        axp.plot([p[0] for p in per], [p[1] for p in per], marker="o", color="C1")
        axp.set_xscale("log")
        axp.set_ylim(bottom=0)
        axp.set_ylabel("time per iteration (%s)" % per[0][2])
    else:
        pr.empty_note(axp, "no per-iteration rows")
    axp.set_xlabel("samples n")
    axp.set_title("(b) time per iteration vs n (independent of n)")
    pr.suptitle(fig, "make bench: the moments engine (d = 10, K = 10, 2 ranks)\n"
                "timings on a shared machine: read the trends, not the digits")
    pr.save(fig, figdir, "bench_moments", written)
    return True


def table_md(rows, path, written, csv_path):
    lines = ["# make bench: %s" % csv_path, "",
             "Measured on a shared machine unless stated otherwise: read the trends, not the digits.", ""]
    for bench in sorted(set(r["bench"] for r in rows), key=lambda b: [r["bench"] for r in rows].index(b)):
        lines += ["## %s" % bench, "", "| setting | value | unit |", "|---|---|---|"]
        lines += ["| %s | %s | %s |" % (r["setting"],
                                       pr.fmt(r["value"]) if np.isfinite(r["value"]) else r["text"] or "-",
                                       r["unit"])
                  for r in rows if r["bench"] == bench]
        lines.append("")
    lines += ["## Figures", ""] + ["- `%s` (+ .pdf)" % os.path.basename(p)
                                   for p in written if p.endswith(".png")]
    if not any(p.endswith(".png") for p in written):
        lines.append("- none (no engine or moments rows)")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv):
    ap = argparse.ArgumentParser(description="Figures of make bench (bench.csv).")
    ap.add_argument("csv", help="bench.csv written by scripts/bench.sh")
    ap.add_argument("-o", "--outdir", help="figure directory (default: figures/ next to the CSV)")
    args = ap.parse_args(argv)
    try:
        rows = parse(args.csv)
    except (OSError, KeyError, csv.Error) as e:
        print("plot_bench.py: %s: %s" % (args.csv, e), file=sys.stderr)
        return 2
    figdir = args.outdir or os.path.join(os.path.dirname(os.path.abspath(args.csv)), "figures")
    os.makedirs(figdir, exist_ok=True)
    written = []
    strong(rows, figdir, written)
    weak(rows, figdir, written)
    moments(rows, figdir, written)
    md = os.path.join(figdir, "bench.md")
    table_md(rows, md, written, args.csv)
    for p in written + [md]:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
