"""_deps.py - find numpy and pandas for an interpreter that lacks them.

tsim's dependencies are Debian packages (python3-numpy, python3-pandas,
python3-yaml, python3-matplotlib: scripts/deps.sh) installed for
/usr/bin/python3. Another python3 first on PATH (pyenv, a venv made without
--system-site-packages) does not see them; when it is the same Python
version (its compiled modules have the same suffix, e.g.
.cpython-311-x86_64-linux-gnu.so), Debian's package directories are added
at the end of sys.path, so its own packages still come first.
"""
import glob
import importlib
import os
import sys
import sysconfig

DEBIAN_DIRS = ["/usr/lib/python3/dist-packages",
               "/usr/local/lib/python%d.%d/dist-packages" % sys.version_info[:2]]
HINT = ("tsim needs numpy and pandas (and PyYAML, matplotlib): Debian's /usr/bin/python3 with "
        "python3-numpy python3-pandas python3-yaml python3-matplotlib (scripts/deps.sh), or "
        "a venv made from it with --system-site-packages (docs/python.md)")


def _same_abi(directory):
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ""
    return bool(suffix) and bool(glob.glob(os.path.join(directory, "numpy", "core",
                                                        "_multiarray_umath" + suffix)))


def _importable():
    try:
        importlib.import_module("numpy")
        importlib.import_module("pandas")
        return None
    except ImportError as e:
        return e


def ensure():
    """Import numpy and pandas, from Debian's directories if need be."""
    if _importable() is None:
        return
    if os.path.isdir(DEBIAN_DIRS[0]) and _same_abi(DEBIAN_DIRS[0]):
        for d in DEBIAN_DIRS:
            if os.path.isdir(d) and d not in sys.path:
                sys.path.append(d)
    e = _importable()
    if e is not None:
        raise ImportError("%s (%s: %s)" % (HINT, sys.executable, e)) from e
