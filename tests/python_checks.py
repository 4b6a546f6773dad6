#!/usr/bin/python3
"""python_checks.py - the checks of tests/test_python.sh on the Python
package python/tsim, one subcommand per case. Prints "ok WHAT" or
"FAIL WHAT: why" per check (test_python.sh counts them); exits non-zero
only when a check could not run at all.

    python_checks.py run DIR AXES_FILE     any complete run (AXES_FILE: `tsim validate` output)
    python_checks.py stopped DIR           a run stopped with cells in pending/
    python_checks.py running DIR WHAT      a run going on (held in a cell)
    python_checks.py crashed DIR WHY       no manifest or an old one, no live lock
    python_checks.py lock DIR HOST PID AGE STATUS   a .lock written here
    python_checks.py failed DIR            manifest status failed
    python_checks.py same DIR REF WHAT     complete, no warning, REF's tables (wall_s aside)
    python_checks.py slice DIR I N         a --cells I/N slice
    python_checks.py iteraxis DIR          train.iterations as a grid axis
    python_checks.py schema HELP           key order and grid axes as `tsim run --help`
    python_checks.py singleton-sets DIR    prints --set arguments making every gridable key a list
    python_checks.py singleton DIR         the cells.csv columns of that run
    python_checks.py summarise             median/IQR on a small example by hand
    python_checks.py plots FIG1 FIG4 FIG9 XU
"""
import csv
import math
import os
import socket
import sys
import time
import warnings

import numpy as np
import pandas as pd

import tsim
from tsim import schema
from tsim.plotting import PlotRefused, axis_scale, prepare

RESULTS = []


def check(what, cond, why=""):
    RESULTS.append(bool(cond))
    print(("ok %s" % what) if cond else ("FAIL %s%s" % (what, ": " + why if why else "")),
          flush=True)


def quiet_load(path, **kw):
    """load() and the warnings it gave."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        r = tsim.load(path, **kw)
    return r, [str(w.message) for w in got if issubclass(w.category, tsim.TsimWarning)]


def raw(path, header=True):
    """A CSV's rows as lists of strings (complete lines only)."""
    with open(path, newline="") as f:
        text = f.read()
    text = text[:text.rfind("\n") + 1]
    rows = list(csv.reader(text.splitlines()))
    return (rows[0], rows[1:]) if header else (None, rows)


def same_values(got, texts, kind):
    """Column GOT equals the CSV TEXTS read as KIND, bit for bit."""
    if kind in ("float", "real"):
        want = np.array([float(t) if t else math.nan for t in texts])
        g = got.to_numpy(dtype=float)
        return g.shape == want.shape and bool(np.all((g == want) | (np.isnan(g) & np.isnan(want))))
    if kind in ("int", "Int", "t", "seed", "event", "param"):
        want = [None if t == "" else (float(t) if "." in t or "e" in t else int(t)) for t in texts]
        g = [None if pd.isna(v) else v for v in got.tolist()]
        return g == want
    return [None if pd.isna(v) else v for v in got.tolist()] == [t if t else None for t in texts]


def same_na(a, b):
    """Equal values, missing (NaN, None, <NA>) in the same places."""
    a, b = pd.Series(a), pd.Series(b)
    return len(a) == len(b) and [None if pd.isna(v) else v for v in a] == \
        [None if pd.isna(v) else v for v in b]


# ------------------------------------------------------------- complete run

def cmd_run(d, axes_file):
    name = os.path.basename(d)
    r, warns = quiet_load(d)
    check("%s: loads without a warning, status complete" % name,
          not warns and r.status == "complete" and r.complete, "; ".join(warns) or r.status)
    check("%s: tables are read on first access, then kept" % name,
          not r._cache and r.metrics is r.metrics)
    with open(axes_file) as f:
        keys = [line.split()[1] for line in f if line.startswith("  axis ")]
    check("%s: axis_keys are tsim validate's axes, in its order" % name,
          list(r.axis_keys.values()) == keys, "%s vs %s" % (list(r.axis_keys.values()), keys))
    flow = any(v == "flow" for v in np.atleast_1d(r.param_values("method", r.cells_expected)))
    cells = r.cells.set_index("cell")
    for table in r.tables:
        header, rows = raw(os.path.join(d, table + ".csv"))
        df = r.table(table)
        check("%s: %s has the CSV's %d rows" % (name, table, len(rows)), len(df) == len(rows),
              "%d rows" % len(df))
        if table == "cells":
            names = r._cells_names(header)
            kinds = r._cells_kinds(names)
            extra = []
        else:
            names, kinds = header, schema.TABLES[table]
            extra = [p for p in r.grid_params if p not in names]
        check("%s: %s columns: the CSV's, then %s" % (name, table, extra or "nothing"),
              list(df.columns) == names + extra, str(list(df.columns)))
        bad = [c for i, c in enumerate(names)
               if not same_values(df[c], [row[i] for row in rows], kinds.get(c, "str"))]
        check("%s: %s values equal the CSV's text (floats bit for bit, empty = NA)" %
              (name, table), not bad, "differ: %s" % bad)
        want = {"int": "int64", "Int": "Int64", "float": "float64", "str": "object",
                "t": "float64" if flow and table != "cells" else "int64",
                "seed": "int64", "event": "Int64", "param": "int64"}
        dt = {c: str(df[c].dtype) for c in names}
        # a flow's event times may be fractions; an integer parameter a cell
        # does not read (empty field) is nullable
        also = {"t": "int64", "event": "float64", "param": "Int64"}
        wrong = {c: t for c, t in dt.items() if t != want[kinds.get(c, "str")]
                 and t != also.get(kinds.get(c))}
        check("%s: %s dtypes (int64, nullable Int64, float64, text)" % (name, table),
              not wrong, str(wrong))
        if extra:
            diff = [p for p in extra
                    if not same_na(df[p], cells[p].reindex(df["cell"]))]
            check("%s: %s rows carry their cell's %s" % (name, table, ", ".join(extra)),
                  not diff, "differ: %s" % diff)
    ids = r.cells["cell"].to_numpy()
    pcols = [c for c in r.cells.columns if c in r.param_names]
    diff = [p for p in pcols
            if not same_na(r.param_values(p, ids), r.cells[p])]
    check("%s: params from the config's grid equal cells.csv's %s" % (name, ", ".join(pcols)),
          not diff and len(r.params) == len(r.cells_expected), "differ: %s" % diff)
    check("%s: grid axes joined onto every table" % name,
          all(set(r.grid_axes) <= set(r.table(t).columns) for t in r.tables))
    yaml_cfg = tsim.read_yaml(os.path.join(d, "config.yaml"))
    check("%s: config (manifest.json) equals config.yaml read as YAML" % name,
          yaml_cfg == r.config, "differ")
    other = [t for t in r.tables if t != "cells"][0]
    col = schema.TABLES[other]
    col = [c for c in col if c not in ("cell", "t")][0]
    few = r.table(other, columns=["t", col])
    full = r.table(other)
    check("%s: columns=['t', '%s'] reads cell, t, %s only, same values" % (name, col, col),
          list(few.columns) == ["cell", "t", col] and few.equals(full[["cell", "t", col]]))
    axis = r.grid_axes[0]
    v = r.axes[axis][-1]
    sub = r.table(other, cells={axis: v})
    check("%s: cells={'%s': %s} keeps exactly those cells' rows" % (name, axis, v),
          len(sub) > 0 and sub.reset_index(drop=True).equals(
              full[full[axis] == v].reset_index(drop=True)))


# ---------------------------------------------------------- partial runs

def cmd_stopped(d):
    r, warns = quiet_load(d)
    text = " ".join(warns)
    pdir = os.path.join(d, "pending")
    frag = sorted(int(f.split(".")[0]) for f in os.listdir(pdir) if f.endswith(".cells.csv"))
    _h, rows = raw(os.path.join(d, "cells.csv"))
    check("stopped run: status stopped, not complete", r.status == "stopped" and not r.complete)
    check("stopped run: one warning naming the stop, the missing cells and pending/",
          len(warns) == 1 and "stopped" in text and "missing" in text and "pending/" in text,
          text)
    check("stopped run: cells.csv's %d cells loaded, pending/ left out" % len(rows),
          len(r.cells) == len(rows) and sorted(r.cells["cell"]) == [int(x[0]) for x in rows])
    check("stopped run: pending_cells are pending/'s %s" % frag, r.pending_cells == frag)
    expect = [c for c in range(r.ncells) if c not in {int(x[0]) for x in rows}]
    check("stopped run: missing_cells", r.missing_cells == expect, str(r.missing_cells))
    _h, mrows = raw(os.path.join(d, "metrics.csv"))
    check("stopped run: metrics has the finished cells' rows only", len(r.metrics) == len(mrows))
    rp, warns = quiet_load(d, include_pending=True)
    nfrag = sum(len(raw(os.path.join(pdir, [f for f in os.listdir(pdir) if
                                            f.startswith("%d." % c) and
                                            f.endswith(".metrics.csv")][0]),
                        header=False)[1]) for c in frag)
    check("include_pending: cells.csv's and pending/'s cells, in order",
          rp.cells["cell"].tolist() == sorted([int(x[0]) for x in rows] + frag))
    check("include_pending: metrics rows of both (%d + %d)" % (len(mrows), nfrag),
          len(rp.metrics) == len(mrows) + nfrag and rp.metrics["cell"].is_monotonic_increasing)
    check("include_pending: the warning says the pending cells were read",
          any("read from pending/" in w for w in warns), " ".join(warns))
    check("include_pending: neurons rows carry their cell's K",
          (rp.neurons["K"].to_numpy() ==
           rp.cells.set_index("cell")["K"].reindex(rp.neurons["cell"]).to_numpy()).all())


def cmd_running(d, what):
    """DIR: a run held in the middle of a cell (TSIM_FAULT hold): live lock."""
    r, warns = quiet_load(d)
    _h, rows = raw(os.path.join(d, "cells.csv"))
    check("%s: status running, not complete" % what, r.status == "running" and not r.complete
          and r.lock and r.lock["live"], r.status)
    check("%s: the warning says it is still going and names the lock's holder" % what,
          any("still going" in w and "pid %s" % r.lock["pid"] in w for w in warns),
          " ".join(warns))
    check("%s: the %d cells in cells.csv loaded" % (what, len(rows)),
          len(r.cells) == len(rows) and len(r.missing_cells) == r.ncells - len(rows))


def cmd_crashed(d, why):
    """DIR: a stopped run without manifest.json, a foreign cell's complete
    row and a half-written line appended to metrics.csv; or one whose
    manifest is older than the tables."""
    r, warns = quiet_load(d)
    _h, rows = raw(os.path.join(d, "cells.csv"))
    present = {x[0] for x in rows}
    _h, mrows = raw(os.path.join(d, "metrics.csv"))
    mine = [x for x in mrows if x[0] in present]
    check("%s: status crashed, not complete" % why, r.status == "crashed" and not r.complete,
          r.status)
    check("%s: the warning says the run died" % why,
          any("the run died" in w for w in warns), " ".join(warns))
    if not r.manifest:
        check("no manifest: config from config.yaml", r.config.get("name") == "wang2021_fig1")
        check("crashed: the half-written last line and rows of cells not in cells.csv are "
              "left out (%d of %d rows)" % (len(mine), len(mrows) + 1),
              len(r.metrics) == len(mine) and r.metrics["cell"].astype(str).isin(present).all())


def cmd_lock(d, host, pid, age, want):
    """DIR with a .lock of HOST and PID whose heartbeat is AGE s old."""
    path = os.path.join(d, ".lock")
    with open(path, "w") as f:
        f.write("tsim run directory lock (tsim unlock DIR removes it)\nhost: %s\npid: %s\n"
                "slurm_job_id: \nstarted: 2001-01-01T00:00:00+0000\nfcntl_lock: no\n"
                "command: tsim run\n" % (host, pid))
    t = time.time() - float(age)
    os.utime(path, (t, t))
    r, warns = quiet_load(d)
    os.unlink(path)
    check("a lock of %s, pid %s, heartbeat %s s old: status %s" % (
        "this host" if host == socket.gethostname() else "host " + host, pid, age, want),
        r.status == want, "%s: %s" % (r.status, " ".join(warns)))


def cmd_failed(d):
    r, warns = quiet_load(d)
    check("failed run: status failed, warning", r.status == "failed" and not r.complete
          and any("failed" in w for w in warns), " ".join(warns))


def cmd_same(d, ref, what):
    r, warns = quiet_load(d)
    f, _ = quiet_load(ref)
    check("%s: loads complete without a warning" % what,
          not warns and r.complete, " ".join(warns) or r.status)
    diff = [t for t in f.tables if not r.table(t).drop(columns=["wall_s"], errors="ignore")
            .equals(f.table(t).drop(columns=["wall_s"], errors="ignore"))]
    check("%s: tables equal the uninterrupted run's (wall_s aside)" % what,
          r.tables == f.tables and not diff, "differ: %s" % diff)
    if "merged_from" in r.manifest:
        a = dict(r.config, output=None)
        b = dict(f.config, output=None)
        check("%s: config from config.yaml (the merged manifest has none)" % what,
              "config" not in r.manifest and a == b)


def cmd_slice(d, i, n):
    i, n = int(i), int(n)
    r, warns = quiet_load(d)
    check("slice %d/%d: complete without a warning, cells %d, %d+%d, ..." % (i, n, i, i, n),
          not warns and r.complete and r.cells_expected == list(range(i, r.ncells, n))
          and r.cells["cell"].tolist() == r.cells_expected, " ".join(warns))


def cmd_iteraxis(d):
    r, _ = quiet_load(d)
    c = r.cells
    check("train.iterations axis: cells has train_iterations (the axis) and iterations "
          "(the count run)", "train_iterations" in c.columns and "iterations" in c.columns
          and sorted(set(c["train_iterations"])) == r.axes["train_iterations"] == [20, 30]
          and (c["iterations"] == c["train_iterations"]).all()
          and "train_iterations" in r.metrics.columns, str(c))


# ---------------------------------------------------------------- schema

def cmd_schema(help_file):
    keys, grid = [], {}
    with open(help_file) as f:
        lines = f.read().split("config keys", 1)[1].splitlines()
    for line in lines:
        if line.startswith("  ") and not line.startswith("   "):
            key = line.split()[0]
            if key == "name":
                continue
            keys.append(key)
            grid[key] = "(grid axis)" in line
    mine = [k for k, _n, _k, _g in schema.CONFIG]
    mine_all = mine + [k for k in keys if k.startswith(("output.", "run."))]
    check("schema.CONFIG: the keys of `tsim run --help`, in its order", keys == mine_all,
          "help %s vs %s" % ([k for k in keys if k not in mine_all],
                             [k for k in mine_all if k not in keys]))
    wrong = [k for k, _n, _k, g in schema.CONFIG if grid.get(k) != g]
    check("schema.CONFIG: grid axes as `tsim run --help` marks them", not wrong, str(wrong))


def cmd_singleton_sets(d):
    r, _ = quiet_load(d)
    flat = {}
    for sec, vals in r.config.items():
        if isinstance(vals, dict):
            for k, v in vals.items():
                flat["%s.%s" % (sec, k)] = v
    for key, _n, _k, gridable in schema.CONFIG:
        if gridable and key in flat:
            v = flat[key][0] if isinstance(flat[key], list) else flat[key]
            if isinstance(v, bool):
                v = "true" if v else "false"
            print("--set\n%s=[%s]" % (key, v))


def cmd_singleton(d):
    r, _ = quiet_load(d)
    header, _rows = raw(os.path.join(d, "cells.csv"))
    params = header[1:header.index("status")]
    mine = [schema.CELLS_COLUMN.get(n, n) for _k, n, _kind, g in schema.CONFIG if g]
    fixed = schema.FIXED_COLUMNS
    check("every gridable key a list: cells.csv's parameter columns are schema.CONFIG's "
          "names, in its order", params == fixed + [n for n in mine if n not in fixed],
          "%s vs %s" % (params, mine))
    check("... and the loader's grid_axes are all of them", sorted(r.grid_axes) ==
          sorted(n for _k, n, _kind, g in schema.CONFIG if g))


# ------------------------------------------------------------------ plots

def cmd_summarise():
    rows = [("A", 0, 1), ("A", 10, 2), ("A", 20, 3), ("A", 30, 4),
            ("B", 0, 2), ("B", 10, 4), ("B", 20, 6),
            ("C", 0, 4), ("C", 10, 8), ("C", 15, 10), ("C", 20, 12), ("C", 30, 16)]
    df = pd.DataFrame(rows, columns=["cell", "t", "y"])
    s = tsim.summarise(df, "t", "y")
    # by hand: numpy's linear quantiles of 3 values a <= b <= c are
    # q25 = (a + b)/2, median b, q75 = (b + c)/2; at t = 15 A and B are
    # interpolated (2.5, 5); at t = 30 B has stopped: {4, 16}
    want = pd.DataFrame({"t": [0, 10, 15, 20, 30], "median": [2, 4, 5, 6, 10.0],
                         "q25": [1.5, 3, 3.75, 4.5, 7], "q75": [3, 6, 7.5, 9, 13],
                         "n": [3, 3, 3, 3, 2]})
    ok = np.allclose(s[["t", "median", "q25", "q75", "n"]].to_numpy(float),
                     want.to_numpy(float), rtol=0, atol=1e-12)
    check("summarise: median and IQR over cells as computed by hand; a cell stops at its "
          "last row (t = 30: 2 cells), others interpolated at t = 15", ok, s.to_string())
    s2 = tsim.summarise(df, "t", "y", interpolate=False)
    check("summarise without interpolation: t = 15 from cell C alone",
          s2.set_index("t").loc[15, "n"] == 1 and s2.set_index("t").loc[15, "median"] == 10)
    t = np.unique(np.round(np.logspace(0, 4, 40)))
    check("axis_scale: log over > 2 decades, symlog for log-spaced t from 0, else linear",
          axis_scale([1e-6, 1e-3, 1]) == "log" and axis_scale([1, 50]) == "linear"
          and axis_scale(np.r_[0, t], allow_symlog=True) == "symlog"
          and axis_scale(np.arange(0, 5001, 10), allow_symlog=True) == "linear"
          and axis_scale([-1, 1e-3, 100]) == "linear")


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 10000


def cmd_plots(fig1, fig4, fig9, xu):
    import matplotlib.figure
    titles, suptitle = [], matplotlib.figure.Figure.suptitle
    matplotlib.figure.Figure.suptitle = lambda fig, t, **kw: (titles.append(t),
                                                              suptitle(fig, t, **kw))[1]
    out = tsim.plot(fig1, y="train_loss", x="t", by="K", quiet=True)
    matplotlib.figure.Figure.suptitle = suptitle
    check("plot: fig1 train_loss by K -> %s is a PNG" % os.path.relpath(out, fig1),
          out == os.path.join(fig1, "figures", "train_loss_vs_t_by_K.png") and is_png(out))
    check("plot: the title names the run directory (%s), not the config" %
          os.path.basename(fig1), len(titles) == 1 and
          titles[0].startswith(os.path.basename(fig1) + ": train_loss against t"), str(titles))
    spec = prepare(fig1, "train_loss", by="K")
    check("plot: fig1: one panel, a line per K, median over the 5 seeds, linear t",
          len(spec["panels"]) == 1 and len(spec["panels"][0]["lines"]) == 3
          and spec["replicates"] == {"seed": 5} and spec["xscale"] == "linear")
    spec = prepare(fig4, "train_loss", by="K")
    line = spec["panels"][0]["lines"][0]
    check("plot: fig4: C is a facet (4 panels), never averaged over",
          spec["facets"] == ["C"] and len(spec["panels"]) == 4
          and all(len(p["lines"]) == 3 for p in spec["panels"]))
    # the median by hand from the CSV: K = 1, C = 1 (first panel), t = 50
    _h, cells = raw(os.path.join(fig4, "cells.csv"))
    ids = {x[0] for x in cells if x[1] == "1" and float(x[4]) == 1.0}
    _h, m = raw(os.path.join(fig4, "metrics.csv"))
    vals = sorted(float(x[2]) for x in m if x[0] in ids and x[1] == "50")
    st = line["stats"].set_index("t").loc[50]
    check("plot: fig4 K=1 C=1 t=50: median and quartiles of the %d seeds' CSV values" %
          len(vals), len(vals) == 2 and st["median"] == (vals[0] + vals[1]) / 2
          and np.isclose(st["q25"], vals[0] + 0.25 * (vals[1] - vals[0]), rtol=1e-15)
          and np.isclose(st["q75"], vals[0] + 0.75 * (vals[1] - vals[0]), rtol=1e-15))
    spec = prepare(fig9, "t_q9_positive", x="eta", by="K")
    check("plot: fig9 t_q9_positive against eta: one panel, log eta (3 decades)",
          len(spec["panels"]) == 1 and spec["xscale"] == "log")
    out = tsim.plot(fig9, y="t_q9_positive", x="eta", by="K", quiet=True)
    check("plot: fig9 t_q9_positive against eta by K is a PNG", is_png(out))
    for args, words, what in [
            (dict(y="train_loss", by="seed"), ["30 panels", "eta", "where"],
             "K x eta facets (30 panels)"),
            (dict(y="train_loss", x="eta", by="K"), ["row per logged t", "where"],
             "a per-t column against eta"),
            (dict(y="nope"), ["no table has a column"], "an unknown column")]:
        try:
            prepare(fig9, **args)
            check("plot: refuses %s" % what, False, "drawn")
        except PlotRefused as e:
            check("plot: refuses %s, saying what to change" % what,
                  all(w in str(e) for w in words), str(e))
    spec = prepare(xu, "train_loss", by="K")
    check("plot: xu2023_fig1 (log_points): symlog t, log loss",
          spec["xscale"] == "symlog" and spec["yscale"] == "log",
          "%s %s" % (spec["xscale"], spec["yscale"]))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    globals()["cmd_" + cmd.replace("-", "_")](*args)


if __name__ == "__main__":
    main()
