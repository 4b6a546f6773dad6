"""schema.py - what the loader knows about a run directory's files.

CONFIG mirrors the config schema of tsim (src/config.c), in its order: the
order in which grid axes are numbered (first axis varying slowest), each
key's column name in cells.csv when it is a grid axis, and its kind.
tests/test_python.sh checks it against `tsim run --help` and against the
cells.csv header of a run that makes every gridable key an axis.
"""
import numpy as np

# (config key, parameter name, kind, gridable). The parameter name is the
# cells.csv column of a grid axis; keys that cannot be axes get a name here
# for Run.params. train.iterations is "train_iterations": cells.csv calls
# both the axis and the count of iterations run "iterations".
CONFIG = [
    ("model.K", "K", "int", True),
    ("init.seed", "seed", "seed", True),
    ("train.eta", "eta", "real", True),
    ("model.C", "C", "real", True),
    ("data.n", "n", "int", True),
    ("model.d", "d", "int", True),
    ("model.activation", "activation", "enum", True),
    ("model.loss_scale", "loss_scale", "real", True),
    ("teacher.source", "teacher_source", "enum", False),
    ("teacher.w_file", "teacher_w_file", "path", False),
    ("teacher.a_file", "teacher_a_file", "path", False),
    ("teacher.output", "teacher_output", "enum", True),
    ("teacher.check", "teacher_check", "enum", False),
    ("teacher.norm", "teacher_norm", "real", True),
    ("teacher.direction", "teacher_direction", "enum", True),
    ("teacher.seed", "teacher_seed", "seed", True),
    ("data.seed", "data_seed", "seed", True),
    ("data.n_test", "n_test", "int", True),
    ("data.chunk", "chunk", "int", False),
    ("data.engine", "engine", "enum", True),
    ("data.storage", "storage", "enum", False),
    ("data.x_file", "x_file", "path", False),
    ("data.y_file", "y_file", "path", False),
    ("data.x_test_file", "x_test_file", "path", False),
    ("data.y_test_file", "y_test_file", "path", False),
    ("init.scale", "init_scale", "real", True),
    ("init.w_file", "w_file", "path", False),
    ("train.iterations", "train_iterations", "int", True),
    ("train.log_every", "log_every", "int", False),
    ("train.log_points", "log_points", "int", False),
    ("train.diverge_above", "diverge_above", "real", False),
    ("train.tol", "tol", "real", False),
    ("train.loss_tol", "loss_tol", "real", False),
    ("train.nu", "nu", "real", False),
    ("model.norm_tied", "norm_tied", "bool", False),
    ("model.normalisation", "normalisation", "enum", True),
    ("teacher.neurons", "teacher_neurons", "int", True),
    ("teacher.activation", "teacher_activation", "enum", False),
    ("teacher.min_angle", "min_angle", "real", True),
    ("data.label_noise", "label_noise", "real", True),
    ("data.regime", "regime", "enum", True),
    ("init.method", "init_method", "enum", True),
    ("init.sigma", "init_sigma", "real", True),
    ("init.delta", "delta", "real", True),
    ("train.method", "method", "enum", True),
    ("train.T", "T", "real", True),
    ("train.rtol", "rtol", "real", False),
    ("train.atol", "atol", "real", False),
    ("train.weight_decay", "weight_decay", "real", True),
    ("train.momentum", "momentum", "real", True),
    ("model.train_output", "train_output", "bool", False),
    ("init.output", "init_output", "enum", True),
    ("train.eta_output", "eta_output", "real", True),
    ("metrics.match_angle", "match_angle", "real", False),
    ("metrics.pop_quadrature", "pop_quadrature", "bool", False),
    ("metrics.hessian.at", "hessian_at", "list", False),
    ("metrics.hessian.log_points", "hessian_log_points", "int", False),
    ("metrics.hessian.events", "hessian_events", "list", False),
    ("metrics.hessian.top", "hessian_top", "int", False),
    ("metrics.hessian.bottom", "hessian_bottom", "int", False),
    ("metrics.hessian.vectors", "hessian_vectors", "bool", False),
    ("metrics.hessian.source", "hessian_source", "enum", False),
]
# cells.csv's name of a grid axis when it differs from the parameter name
CELLS_COLUMN = {"train_iterations": "iterations"}
# config sections that describe the run, not a cell
NOT_PER_CELL = ("name", "output.", "run.")

# cells.csv always has these parameter columns, axes or not
FIXED_COLUMNS = ["K", "seed", "eta", "C", "n", "d"]
# replicate axes: cells differing only in these are seeds of one setting
SEED_AXES = ("seed", "data_seed", "teacher_seed")

# Parameters a cell does not read (tsim's cellkind_unread, src/cellkind.c):
# empty in cells.csv, missing (<NA>, NaN, None) in the loader. Each entry:
# the parameters, and a test over the cells' parameters (GET(name): a numpy
# array of one parameter over the cells; None where the config leaves it
# unset) that is true where they are not read.
def _given(values):
    return np.array([v is not None for v in values], dtype=bool)


UNREAD = [
    (("eta",), lambda get: (get("method") == "flow") | (get("train_iterations") == 0)),
    (("T", "rtol", "atol"), lambda get: get("method") == "gd"),
    (("weight_decay", "momentum", "eta_output"), lambda get: get("method") == "flow"),
    (("init_output", "eta_output"), lambda get: ~np.asarray(get("train_output"), dtype=bool)),
    (("n", "n_test", "data_seed", "chunk", "storage", "engine"),
     lambda get: get("regime") == "population"),
    (("data_seed",), lambda get: _given(get("x_file"))),
    (("seed", "init_scale", "init_sigma", "delta"), lambda get: _given(get("w_file"))),
    (("seed",), lambda get: get("init_method") == "claim2"),
    (("init_scale",), lambda get: np.isin(get("init_method"), ["gaussian", "claim2"])),
    (("init_sigma",), lambda get: get("init_method") != "gaussian"),
    (("delta",), lambda get: get("init_method") != "claim2"),
    (("teacher_seed",), lambda get: np.isin(get("teacher_direction"), ["e1", "orthonormal"])),
    (("min_angle",), lambda get: get("teacher_direction") != "separated"),
    (("teacher_norm", "teacher_direction", "teacher_seed", "min_angle"),
     lambda get: get("teacher_source") == "file"),
    (("teacher_norm", "teacher_direction", "teacher_seed", "teacher_neurons",
      "teacher_activation", "min_angle", "tol", "nu", "match_angle"),
     lambda get: get("teacher_source") == "none"),
]


def unread(name, get):
    """Where parameter NAME is not read, as a boolean array over the cells
    GET describes (see UNREAD); None when every cell reads it."""
    mask = None
    for names, test in UNREAD:
        if name in names:
            m = np.asarray(test(get), dtype=bool)
            mask = m if mask is None else mask | m
    return mask if mask is not None and mask.any() else None


# Column types. "int": int64; "Int": pandas' nullable Int64 (an empty field
# is <NA>: an event that never happened, the iterations of a gradient flow);
# "float": float64 (empty = NaN); "str": text; "t": int64, or float64 when a
# gradient flow logged times that are not whole; "seed": int64, uint64 above
# 2^63 - 1; "event": an event's t, nullable Int64, or float64 when a
# gradient flow's times are not whole; "param": an integer parameter column
# of cells.csv, as "seed", but nullable (Int64, UInt64) when some cell does
# not read it (UNREAD) and its field is empty.
KIND_DTYPE = {"int": "param", "seed": "param", "real": "float", "enum": "str",
              "bool": "str", "path": "str", "list": "str"}
CELLS_RESULTS = {"status": "str", "iterations": "Int", "t_q9_positive": "event",
                 "t_lemma1": "event", "t_gamma": "event", "t_gamma_bound": "float",
                 "final_train_loss": "float", "final_test_loss": "float",
                 "final_dist": "float", "wall_s": "float"}
TABLES = {
    "metrics": {"cell": "int", "t": "t", "train_loss": "float", "test_loss": "float",
                "pop_loss": "float", "dist": "float", "q9": "float", "grad_norm": "float",
                "penalty": "float"},
    "neurons": {"cell": "int", "t": "t", "k": "int", "par": "float", "perp_norm": "float",
                "norm": "float", "comp_A": "float", "comp_B": "float", "comp_C": "float",
                "comp_D": "float"},
    "teachers": {"cell": "int", "t": "t", "teacher": "int", "best_cos": "float",
                 "n_matched": "Int", "energy": "float"},
    "spectrum": {"cell": "int", "t": "t", "index": "int", "eigenvalue": "float",
                 "overlap_v": "float"},
    "hessian": {"cell": "int", "t": "t", "min_eig": "float", "max_eig": "float",
                "n_negative": "Int", "restricted_min": "float", "q9_over_v2": "float"},
}
TABLE_NAMES = ["cells"] + list(TABLES)
# columns that index a table's rows within a cell (besides t)
INDEX_COLUMNS = {"neurons": ["k"], "teachers": ["teacher"], "spectrum": ["index"]}


def param_kind(name):
    """The kind of parameter NAME ('int', 'real', ...), None if unknown."""
    for _key, col, kind, _grid in CONFIG:
        if col == name:
            return kind
    return None
