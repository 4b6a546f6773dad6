"""python3 -m tsim: the package's command line.

    python3 -m tsim info RUN_DIR
    python3 -m tsim plot RUN_DIR --y train_loss [--x t] [--by K] [--where 'k=0 seed=[0,1]']

`make plot RUN=DIR Y=... X=... BY=... WHERE=...` runs the second. A plot
that cannot be drawn as asked is one line on stderr and exit status 2.
"""
import argparse
import sys
import warnings

from .plotting import PlotRefused, plot
from .run import TsimWarning, load, _YamlLoader


def _where(texts):
    """['k=0 seed=[0,1]'] -> {'k': 0, 'seed': [0, 1]} (values are YAML)."""
    import yaml
    out = {}
    for text in texts:
        for item in text.split():
            if "=" not in item:
                raise PlotRefused("where: expected NAME=VALUE, got %r" % item)
            name, value = item.split("=", 1)
            out[name] = yaml.load(value, Loader=_YamlLoader.get())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tsim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="what a run directory holds")
    info.add_argument("run")
    p = sub.add_parser("plot", help="a column against t or a parameter (tsim.plot)")
    p.add_argument("run")
    p.add_argument("--y", required=True, help="any column of any table")
    p.add_argument("--x", help="t (default) or a parameter")
    p.add_argument("--by", help="a parameter or row index (k, teacher, index): one line each")
    p.add_argument("--where", action="append", default=[],
                   help="NAME=VALUE ... fixing parameters or columns (value: YAML)")
    p.add_argument("--include-pending", action="store_true",
                   help="also the finished cells waiting in RUN/pending/")
    p.add_argument("-o", "--out", help="the PNG (default RUN/figures/Y_vs_X[_by_BY].png)")
    a = ap.parse_args(argv)
    warnings.simplefilter("always", TsimWarning)
    warnings.showwarning = lambda msg, *rest: print("tsim: warning: %s" % msg, file=sys.stderr)
    try:
        if a.command == "info":
            r = load(a.run)
            print(r)
            for axis, values in r.axes.items():
                print("  axis %-18s %s (%s)" % (axis, values, r.axis_keys[axis]))
            return 0
        r = load(a.run, include_pending=a.include_pending)
        plot(r, a.y, x=a.x, by=a.by, where=_where(a.where), out=a.out)
    except (PlotRefused, FileNotFoundError, KeyError) as e:
        print("tsim plot: %s" % (e.args[0] if e.args else e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
