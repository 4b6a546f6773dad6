"""run.py - one tsim run directory as pandas DataFrames (tsim.load)."""
import io
import json
import os
import re
import socket
import time
import warnings

import numpy as np
import pandas as pd

from . import schema

_DEFAULT = object()  # params= not given
CHUNK_ROWS = 1_000_000  # rows per read when only some cells' rows are kept
LOCK_STALE_SECONDS = 120  # src/lock.h: a heartbeat older than this is a dead run's


class TsimWarning(UserWarning):
    """A run that is not all there: stopped, failed, running, cells missing."""


# ------------------------------------------------------------------ config

class _YamlLoader(object):
    """PyYAML's safe loader, made lazily, reading 1e-06 and 3e+01 (YAML 1.2
    floats, as tsim writes them) as numbers, not text."""
    loader = None

    @classmethod
    def get(cls):
        if cls.loader is None:
            import yaml

            class Loader(yaml.SafeLoader):
                pass
            Loader.add_implicit_resolver(
                "tag:yaml.org,2002:float",
                re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
                list("-+0123456789."))
            cls.loader = Loader
        return cls.loader


def read_yaml(path):
    """A YAML file (config.yaml) as Python objects."""
    import yaml
    with open(path) as f:
        return yaml.load(f, Loader=_YamlLoader.get())


def _flatten(tree, prefix=""):
    """{'model': {'K': [1, 3]}} -> {'model.K': [1, 3]}."""
    flat = {}
    for key, value in (tree or {}).items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = value
    return flat


def _coerce(value, kind):
    """A config value as the type of its kind (1e9 given for data.n -> int)."""
    if value is None:
        return None
    if kind in ("int", "seed"):
        return int(value)
    if kind == "real":
        return float(value)
    if kind == "bool":
        return bool(value)
    if kind == "list":
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _array(values, kind):
    """Values of one parameter as a numpy array of the kind's dtype."""
    if kind == "int":
        return np.asarray(values, dtype=np.int64)
    if kind == "seed":
        big = any(v is not None and v > np.iinfo(np.int64).max for v in values)
        return np.asarray(values, dtype=np.uint64 if big else np.int64)
    if kind == "real":
        return np.asarray(values, dtype=np.float64)
    if kind == "bool":
        return np.asarray(values, dtype=bool)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _ranges(ids, most=12):
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8' (the first MOST runs)."""
    runs, start = [], None
    for i, c in enumerate(ids):
        if start is None:
            start = c
        if i + 1 == len(ids) or ids[i + 1] != c + 1:
            runs.append(str(start) if start == c else "%d-%d" % (start, c))
            start = None
    text = ", ".join(runs[:most])
    return text + (", ..." if len(runs) > most else "")


def _pid_exists(pid):
    """Is PID a live process of this host (not a zombie)?"""
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass
    except (OSError, OverflowError):
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def read_lock(run_dir):
    """OUTDIR/.lock (a run, resume or merge writing the directory) as a dict
    (host, pid, slurm_job_id, started, command, holder: a description, live),
    None when there is none. Live as tsim judges it (src/lock.c), without
    its OFD-lock test: on this host while the pid exists, on another while
    the heartbeat (the file's mtime, refreshed every 10 s) is younger than
    LOCK_STALE_SECONDS."""
    path = os.path.join(run_dir, ".lock")
    try:
        with open(path) as f:
            text = f.read()
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    lock = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in ("host", "pid", "slurm_job_id", "started", "command"):
            lock[key] = value
    try:
        pid = int(lock.get("pid", ""))
    except ValueError:
        pid = -1
    if lock.get("host") == socket.gethostname():
        lock["live"] = pid > 0 and pid != os.getpid() and _pid_exists(pid)
    else:
        lock["live"] = age < LOCK_STALE_SECONDS
    lock["holder"] = "host %s, pid %s, started %s, heartbeat %d s ago" % (
        lock.get("host", "?"), lock.get("pid", "?"), lock.get("started", "?"), age)
    return lock


# ----------------------------------------------------------------- reading

class _Head(io.RawIOBase):
    """The first LIMIT bytes of an open binary file."""

    def __init__(self, f, limit):
        super().__init__()
        self.f, self.left = f, limit

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        if n <= 0:
            return 0
        got = self.f.readinto(memoryview(b)[:n])
        self.left -= got
        return got


def _complete_bytes(path):
    """The size of PATH up to its last newline: a line still being written
    (a running or crashed run) is left out."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        pos = f.tell()
        while pos > 0:
            start = max(0, pos - 65536)
            f.seek(start)
            i = f.read(pos - start).rfind(b"\n")
            if i >= 0:
                return start + i + 1
            pos = start
    return 0


def _header(path):
    with open(path) as f:
        line = f.readline()
    return line.rstrip("\n").split(",") if line.endswith("\n") else []


def _read_dtype(kind):
    return {"int": "int64", "Int": "Int64", "float": "float64", "str": object,
            "param": object}.get(kind)


def _param_ints(col):
    """An integer parameter column read as text (schema's "param"): int64,
    uint64 above 2^63 - 1, nullable (Int64, UInt64) when a field is empty."""
    na = col.isna().to_numpy()
    text = col.where(~na, "0")
    try:
        vals = text.astype(np.int64).to_numpy()
    except OverflowError:
        vals = text.astype(np.uint64).to_numpy()
    return pd.Series(pd.arrays.IntegerArray(vals, na) if na.any() else vals, index=col.index)


def _events(col):
    """An event column (schema's "event"): Int64, or float64 when a gradient
    flow's times are not whole."""
    if col.dtype.kind == "f":
        v = col.to_numpy()
        fin = v[~np.isnan(v)]
        return col if np.any(fin != np.floor(fin)) else col.astype("Int64")
    return col.astype("Int64")


def _finish_dtypes(df, kinds):
    """Dtypes pandas could not be told beforehand: t, seeds, parameters,
    events, empty frames."""
    for col in df.columns:
        kind = kinds.get(col)
        if kind == "param":
            df[col] = _param_ints(df[col])
        elif kind == "event":
            df[col] = _events(df[col])
        elif kind in ("t", "seed") and df[col].dtype == object:  # no rows
            df[col] = df[col].astype("int64")
        elif len(df) == 0 and _read_dtype(kind) is not None:
            df[col] = df[col].astype(_read_dtype(kind))
    return df


def _read_csv(path, names, usecols, kinds, cells=None, header=True):
    """Columns USECOLS of the CSV at PATH whose columns are NAMES, up to its
    last complete line, as a DataFrame; with CELLS (a set of ids), only the
    rows of those cells (read in chunks, so memory follows what is kept).
    Floats read back to the bits tsim printed (17 digits, round trip)."""
    size = _complete_bytes(path)
    dtype = {c: _read_dtype(kinds.get(c)) for c in usecols if _read_dtype(kinds.get(c))}
    with open(path, "rb") as raw:
        first = len(raw.readline()) if header else 0
        raw.seek(0)
        src = io.BufferedReader(_Head(raw, size), 1 << 20)
        args = dict(header=0 if header else None, names=names, usecols=usecols, dtype=dtype,
                    float_precision="round_trip", keep_default_na=False,
                    na_values=[""], skip_blank_lines=True)
        if size <= first:  # no row (yet)
            df = pd.DataFrame({c: pd.Series([], dtype=object) for c in usecols})
        elif cells is None:
            df = pd.read_csv(src, **args)
        else:
            wanted = np.fromiter(cells, dtype=np.int64)
            parts = [chunk[chunk["cell"].isin(wanted)]
                     for chunk in pd.read_csv(src, chunksize=CHUNK_ROWS, **args)]
            df = pd.concat(parts, ignore_index=True) if parts else \
                pd.DataFrame({c: pd.Series([], dtype=object) for c in usecols})
    return _finish_dtypes(df[list(usecols)], kinds)


# --------------------------------------------------------------------- run

class Run:
    """A tsim run directory: its tables as pandas DataFrames, its config and
    manifest as dicts, and what state the run is in.

    Tables (each also ``run.table(name, ...)``, which can read fewer
    columns and fewer cells): ``cells``, ``metrics``, ``neurons``,
    ``teachers``, ``spectrum``, ``hessian``. Each is read on first access and
    kept. Every row carries its cell's parameters: cells.csv's parameter
    columns (K, seed, eta, C, n, d and every other grid axis) are joined
    onto the rows of the other tables. Integer columns are int64; the event
    columns of cells.csv (t_q9_positive, t_lemma1, t_gamma) and the counts
    n_matched, n_negative are pandas' nullable Int64, <NA> where the field is
    empty (the event never happened); an empty float is NaN; t is int64, or
    float64 for a gradient flow's times.

    State: ``status`` is "running" while OUTDIR/.lock is live (``lock``,
    see read_lock(): a run, resume or merge writing the directory), else
    manifest.json's "complete", "stopped" or "failed", or "crashed" when
    there is no manifest.json or it is older than the tables (a resumed
    run) and no live lock: the run died (killed, a crash, a lost node).
    ``complete`` is True when the status is complete and every cell the run
    was to compute is in the tables.
    Otherwise load() warns (TsimWarning) and loads the cells that are
    finished: ``missing_cells`` lists the others; ``pending_cells`` those
    finished out of order that wait in OUTDIR/pending/ (read only with
    ``include_pending=True``). A run still being written is read up to its
    last complete line, and only the rows of cells whose cells.csv row was
    there when the run was loaded.

    Grid: ``grid_axes`` (cells.csv column names of the config keys given as
    lists, first varying slowest), ``axes`` (their values), ``axis_keys``
    (their config keys), ``seed_axes`` (the replicate axes among them),
    ``params`` (every per-cell parameter of every cell of the run).
    """

    def __init__(self, run_dir, include_pending=False):
        self.dir = os.fspath(run_dir)
        self.include_pending = include_pending
        self._cache = {}
        self.notes = []
        cells_path = self._path("cells")
        if not os.path.isfile(cells_path):
            raise FileNotFoundError("%s: no cells.csv: not a tsim run directory" % self.dir)
        self._read_state()
        self._read_grid()
        self._read_cells()
        if self.notes:
            warnings.warn("%s: %s" % (self.dir, "; ".join(self.notes)), TsimWarning,
                          stacklevel=3)

    # ---- state, config, grid
    def _path(self, table):
        return os.path.join(self.dir, table + ".csv")

    def _read_state(self):
        mpath = os.path.join(self.dir, "manifest.json")
        self.manifest = {}
        if os.path.isfile(mpath):
            with open(mpath) as f:
                self.manifest = json.load(f)
        self.config = self.manifest.get("config")
        if not isinstance(self.config, dict):  # merged runs: only config.yaml
            self.config = read_yaml(os.path.join(self.dir, "config.yaml"))
        self.tables = [t for t in schema.TABLE_NAMES if os.path.isfile(self._path(t))]
        self.lock = read_lock(self.dir)
        resume = "tsim resume %s continues it" % self.dir
        stale = False
        if self.manifest:
            newest = max(os.stat(self._path(t)).st_mtime_ns for t in self.tables)
            stale = newest > os.stat(mpath).st_mtime_ns
        if self.lock and self.lock["live"]:
            self.status = "running"
            self.notes.append("the run is still going (OUTDIR/.lock: %s)" % self.lock["holder"])
        elif not self.manifest or stale:
            self.status = "crashed"
            self.notes.append(
                "%s and no live lock: the run died (killed, a crash, a lost node; %s)" %
                ("manifest.json (status %s) is older than the tables" %
                 self.manifest.get("status") if stale else "no manifest.json", resume))
        else:
            self.status = self.manifest.get("status", "crashed")
            if self.status == "stopped":
                self.notes.append("the run stopped before its end (%s)" % resume)
            elif self.status != "complete":
                self.notes.append("the run %s (manifest.json)" % self.status)

    def _read_grid(self):
        flat = _flatten(self.config)
        self._kind, self._name_of = {}, {}
        self._values = {}  # parameter name -> constant, or list for an axis
        known = {key for key, _n, _k, _g in schema.CONFIG}
        entries = list(schema.CONFIG)
        for key, value in flat.items():  # keys newer than this loader
            if key not in known and not key.startswith(schema.NOT_PER_CELL):
                guess = "real" if isinstance(value, float) else "int" if isinstance(
                    value, int) else "enum"
                entries.append((key, key.replace(".", "_"), guess, isinstance(value, list)))
        self.axis_keys, self.axes = {}, {}
        for key, name, kind, gridable in entries:
            if key not in flat:
                continue
            value = flat[key]
            self._kind[name], self._name_of[key] = kind, name
            if gridable and isinstance(value, list):
                self.axis_keys[name] = key
                self.axes[name] = [_coerce(v, kind) for v in value]
                self._values[name] = self.axes[name]
            else:
                self._values[name] = _coerce(value, kind)
        self.grid_axes = list(self.axes)
        self.seed_axes = [a for a in self.grid_axes if a in schema.SEED_AXES]
        self.param_names = list(self._values)
        self.grid_params = schema.FIXED_COLUMNS + [
            a for a in self.grid_axes if a not in schema.FIXED_COLUMNS]
        self._strides, stride = {}, 1
        for name in reversed(self.grid_axes):
            self._strides[name] = stride
            stride *= len(self.axes[name])
        self.ncells = stride
        total = int(self.manifest.get("cells_total", self.ncells))
        if total != self.ncells:
            raise ValueError("%s: manifest.json says %d cells, the config's grid has %d" %
                             (self.dir, total, self.ncells))
        sel = str(self.manifest.get("cells_selected", "all"))
        m_range, m_every = re.match(r"^(\d+):(\d+)$", sel), re.match(r"^(\d+)/(\d+)$", sel)
        if m_range:
            ids = range(int(m_range.group(1)), int(m_range.group(2)))
        elif m_every:
            ids = range(int(m_every.group(1)), self.ncells, int(m_every.group(2)))
        else:
            ids = range(self.ncells)
        self.cells_expected = list(ids)
        self.cells_selected = sel

    def _config_values(self, name, ids):
        """Parameter NAME of the cells IDS as the config gives it (None
        for an optional key it leaves unset)."""
        if name not in self._values:
            return np.full(len(ids), None, dtype=object)
        kind, value = self._kind[name], self._values[name]
        if name in self.axes:
            return _array(value, kind)[(ids // self._strides[name]) % len(value)]
        return _array([value], kind)[np.zeros(len(ids), dtype=np.int64)]

    def param_values(self, name, cell_ids):
        """Parameter NAME (a column of ``params``) of each cell in CELL_IDS
        as a numpy array, from the config's grid (mixed radix over the axes,
        first axis slowest, as tsim numbers cells). Missing where a cell
        does not read it, as cells.csv leaves it empty (schema.UNREAD: eta
        of a gradient flow, n of the population regime, ...): NaN, None, or
        for an integer a pandas nullable array (Int64, UInt64) with <NA>."""
        ids = np.asarray(cell_ids, dtype=np.int64)
        if name not in self._values:
            raise KeyError("%s: no parameter %r (parameters: %s)" %
                           (self.dir, name, ", ".join(self.param_names)))
        vals = self._config_values(name, ids)
        mask = schema.unread(name, lambda n: self._config_values(n, ids))
        if mask is None:
            return vals
        if vals.dtype.kind in "iu":
            return pd.arrays.IntegerArray(vals, mask)
        vals = vals.copy()
        vals[mask] = np.nan if vals.dtype.kind == "f" else None
        return vals

    @property
    def params(self):
        """Every per-cell parameter (config key, named as in cells.csv for the
        grid axes; train.iterations is train_iterations) of every cell this
        run was to compute, one row per cell."""
        if "params" not in self._cache:
            ids = np.asarray(self.cells_expected, dtype=np.int64)
            cols = {"cell": ids}
            for name in self.param_names:
                cols[name] = self.param_values(name, ids)
            self._cache["params"] = pd.DataFrame(cols)
        return self._cache["params"]

    # ---- cells.csv and pending/
    def _cells_names(self, header):
        """cells.csv's header with the parameter columns named as parameters
        (the axis train.iterations is a second "iterations" column)."""
        back = {col: name for name, col in schema.CELLS_COLUMN.items()}
        split = header.index("status") if "status" in header else len(header)
        return [back.get(c, c) if i < split else c for i, c in enumerate(header)]

    def _cells_kinds(self, names):
        kinds = dict(schema.CELLS_RESULTS, cell="int")
        for name in names:
            if name in self._kind and name not in kinds:
                kinds[name] = schema.KIND_DTYPE.get(self._kind[name])
        return kinds

    def _read_cells(self):
        header = _header(self._path("cells"))
        names = self._cells_names(header)
        kinds = self._cells_kinds(names)
        cells = _read_csv(self._path("cells"), names, names, kinds)
        present = set(cells["cell"].tolist())
        self.pending_cells = []
        self._fragment_hash = {}
        pdir = os.path.join(self.dir, "pending")
        want = self.manifest.get("config_hash")
        if os.path.isdir(pdir):
            # CELL.HASH.TABLE.csv: HASH the config hash of the run that
            # parked it; the cells.csv fragment is written last
            for fname in sorted(os.listdir(pdir)):
                m = re.match(r"^(\d+)\.([0-9a-f]{16})\.cells\.csv$", fname)
                if not m or (want and m.group(2) != want):
                    continue
                cell = int(m.group(1))
                if cell not in present and cell not in self._fragment_hash and \
                        _complete_bytes(os.path.join(pdir, fname)) > 0:
                    self._fragment_hash[cell] = m.group(2)
                    self.pending_cells.append(cell)
            self.pending_cells.sort()
        if self.include_pending and self.pending_cells:
            frags = [_read_csv(self._fragment(c, "cells"), names, names, kinds, header=False)
                     for c in self.pending_cells]
            cells = pd.concat([cells] + frags, ignore_index=True)
            cells = cells.sort_values("cell", kind="mergesort", ignore_index=True)
        self._cells_frame = cells
        self._cell_set = set(cells["cell"].tolist())
        self.missing_cells = [c for c in self.cells_expected if c not in self._cell_set]
        if self.missing_cells:
            self.notes.append("%d of %d cells loaded; missing: %s" %
                              (len(self.cells_expected) - len(self.missing_cells),
                               len(self.cells_expected), _ranges(self.missing_cells)))
        if self.pending_cells:
            self.notes.append(
                "%d finished cells %s pending/ (%s)%s" %
                (len(self.pending_cells),
                 "read from" if self.include_pending else "wait in",
                 _ranges(self.pending_cells),
                 "" if self.include_pending else
                 ": tsim.load(..., include_pending=True) reads them"))
        self.complete = self.status == "complete" and not self.missing_cells
        self._filter = not (self.status == "complete" and not self.missing_cells
                            and not self.pending_cells)

    def _fragment(self, cell, table):
        return os.path.join(self.dir, "pending", "%d.%s.%s.csv" %
                            (cell, self._fragment_hash[cell], table))

    # ---- tables
    def weights(self, cell):
        """output.weights: cell CELL's (t, W, V) from OUTDIR/weights/: t the
        logged iterations or times, (rows,); W the student weights at them,
        (rows, d, K), W[r, :, k] = w_k; V the teacher's weights, (d, m), or
        None for a cell without a teacher. FileNotFoundError when the run
        wrote no weights for the cell."""
        base = os.path.join(self.dir, "weights", "%d" % int(cell))
        t, W = np.load(base + ".t.npy"), np.load(base + ".npy")
        V = np.load(base + ".teacher.npy") if os.path.exists(base + ".teacher.npy") else None
        return t, W, V

    def select(self, **where):
        """Cell ids (of those loaded) whose parameters match WHERE, e.g.
        ``select(K=3, seed=[0, 1])``: a value or a list of values each."""
        ids = np.asarray(sorted(self._cell_set), dtype=np.int64)
        keep = np.ones(len(ids), dtype=bool)
        for name, want in where.items():
            vals = self.param_values(name, ids)
            if isinstance(vals, pd.arrays.IntegerArray):  # <NA> matches nothing
                keep &= ~vals.isna()
                vals = vals.to_numpy(dtype=vals.dtype.numpy_dtype, na_value=0)
            want = list(want) if isinstance(want, (list, tuple, set, np.ndarray)) else [want]
            if vals.dtype.kind == "f":
                hit = np.zeros(len(ids), dtype=bool)
                for w in want:
                    hit |= np.isclose(vals, float(w), rtol=1e-12, atol=0)
            else:
                hit = np.isin(vals, np.asarray(want, dtype=vals.dtype))
            keep &= hit
        return ids[keep].tolist()

    def table(self, name, columns=None, params=_DEFAULT, cells=None):
        """Table NAME ('cells', 'metrics', 'neurons', 'teachers', 'spectrum',
        'hessian') as a DataFrame, one row per CSV row, in cell order.

        columns: the columns wanted (the CSV's columns and parameter names,
            e.g. ``['t', 'par', 'K']``); only those are read, and 'cell' is
            always there. None: every column of the CSV.
        params: parameters joined onto every row: 'grid' (cells.csv's
            parameter columns: K, seed, eta, C, n, d and every other grid
            axis; the default when columns is None), 'axes' (the grid axes
            only), 'all' (every per-cell parameter, see ``params``), None
            (none; the default when columns is given), or a list of names.
        cells: only the rows of these cells: a list of ids, or a dict of
            parameter values (``{'K': 10, 'seed': [0, 1]}``, see select()).
            The file is then read in chunks of CHUNK_ROWS rows, so a large
            neurons.csv costs the memory of the rows kept.
        """
        if name not in schema.TABLE_NAMES:
            raise ValueError("no table %r (tables: %s)" % (name, ", ".join(schema.TABLE_NAMES)))
        if name not in self.tables:
            why = "this run did not write it"
            if name == "teachers" and self.manifest.get("teacher"):
                why = self.manifest["teacher"].split(";")[0]  # teacher.source none
            raise FileNotFoundError("%s: no %s.csv (%s)" % (self.dir, name, why))
        if name == "cells":
            names = list(self._cells_frame.columns)
        else:
            names = _header(self._path(name))
        if params is _DEFAULT:
            params = "grid" if columns is None else None
        joined = {"grid": self.grid_params, "axes": self.grid_axes, "all": self.param_names,
                  None: [], False: []}.get(params) if isinstance(params, (str, bool, type(None))) \
            else list(params)
        if joined is None:
            raise ValueError("params=%r: expected 'grid', 'axes', 'all', None or a list" % params)
        if columns is None:
            use = names
        else:
            unknown = [c for c in columns if c not in names and c not in self._values]
            if unknown:
                raise KeyError("%s: %s.csv has no column %s (columns: %s; parameters: %s)" %
                               (self.dir, name, ", ".join(map(repr, unknown)), ", ".join(names),
                                ", ".join(self.param_names)))
            use = ["cell"] + [c for c in columns if c in names and c != "cell"]
            joined = [c for c in columns if c not in names] + list(joined)
        for p in joined:
            if p not in self._values:
                raise KeyError("%s: no parameter %r (parameters: %s)" %
                               (self.dir, p, ", ".join(self.param_names)))
        keep = None
        if cells is not None:
            keep = set(self.select(**cells) if isinstance(cells, dict) else
                       (int(c) for c in cells)) & self._cell_set
        elif self._filter:
            keep = self._cell_set
        if name == "cells":
            df = self._cells_frame[use]
            if keep is not None and len(keep) != len(self._cell_set):
                df = df[df["cell"].isin(list(keep))]
            df = df.copy()
        else:
            kinds = schema.TABLES.get(name, {})
            df = _read_csv(self._path(name), names, use, kinds, cells=keep)
            frags = [c for c in self.pending_cells if keep is None or c in keep] \
                if self.include_pending else []
            parts = [_read_csv(self._fragment(c, name), names, use, kinds, header=False)
                     for c in frags if os.path.isfile(self._fragment(c, name))]
            if parts:
                df = pd.concat([df] + parts, ignore_index=True)
                df = df.sort_values("cell", kind="mergesort", ignore_index=True)
                df = _finish_dtypes(df, kinds)
        cell_ids = df["cell"].to_numpy()
        for p in joined:
            if p not in df.columns:
                df[p] = self.param_values(p, cell_ids)
        return df.reset_index(drop=True)

    def _cached(self, name):
        if name not in self._cache:
            self._cache[name] = self.table(name)
        return self._cache[name]

    cells = property(lambda self: self._cached("cells"),
                     doc="cells.csv: one row per cell (its parameters, status, events, "
                         "final losses, wall_s).")
    metrics = property(lambda self: self._cached("metrics"),
                       doc="metrics.csv: one row per cell and logged t, with the cell's "
                           "grid parameters.")
    neurons = property(lambda self: self._cached("neurons"),
                       doc="neurons.csv: one row per cell, logged t and student k (all "
                           "columns; on a large run use table('neurons', columns=[...], "
                           "cells=...)).")
    teachers = property(lambda self: self._cached("teachers"),
                        doc="teachers.csv: one row per cell, logged t and teacher.")
    spectrum = property(lambda self: self._cached("spectrum"),
                        doc="spectrum.csv: one row per cell, Hessian time t and eigenvalue "
                            "index.")
    hessian = property(lambda self: self._cached("hessian"),
                       doc="hessian.csv: one row per cell and Hessian time t.")

    @property
    def name(self):
        """The run's name (config `name`)."""
        return self.config.get("name", os.path.basename(os.path.normpath(self.dir)))

    def __repr__(self):
        axes = ", ".join("%s[%d]" % (a, len(v)) for a, v in self.axes.items()) or "none"
        return "<tsim run %s: %s, %d of %d cells%s; axes %s; tables %s>" % (
            self.dir, self.status, len(self._cell_set), len(self.cells_expected),
            " (%d pending)" % len(self.pending_cells) if self.pending_cells else "", axes,
            ", ".join(self.tables))


def load(run_dir, include_pending=False):
    """Open the run directory RUN_DIR (what `tsim run -o`, `tsim resume` or
    `tsim merge -o` wrote) as a Run: tables on first access, config and
    manifest now. Warns (TsimWarning) when the run is not complete: stopped,
    failed, still running or died, cells missing, cells waiting in pending/
    (read with include_pending=True)."""
    return Run(run_dir, include_pending=include_pending)
