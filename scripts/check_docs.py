#!/usr/bin/python3
"""check_docs.py - the README and the docs/ pages stay linked and stamped.

    scripts/check_docs.py [ROOT]      (default: this checkout)

Pages are ROOT/README.md and ROOT/docs/*.md (docs/gallery/*.md are the
fragments scripts/gallery.sh pastes into docs/gallery.md, not pages).
Checks, each problem one line FILE:LINE: what, exit 1 if any:

(a) Every measured value sits below a stamp in its page, a line of its own:

      _Measured on REF, MACHINE, DATE._
      _Measured on REF, MACHINE, DATE; which numbers it covers._

    REF is the commit whose build was measured (7-40 hex digits), or
    "an unrecorded build (written in HASH)" when neither the text nor the
    commit says which build it was: HASH is then the commit that wrote the
    numbers (git blame). MACHINE has no comma; DATE is YYYY-MM-DD. In a git
    checkout every HASH must name a commit of this repository.
    A line holds a measured value when, outside code (fenced blocks and
    `spans`), it has a number with a unit of time (s, ms, us, ns, min,
    seconds, minutes, hours), a
    rate (GB/s, GFLOP/s, cells/s), a ratio like 1.5x, or the word
    "measured". Not measurements: durations written as settings ("every
    10 s", "older than 120 s", "up to 30 s", "60 s before", a hang guard)
    and the measured field wall_s being named.
(b) Every docs/*.md page is linked from README.md.
(c) Every relative link ([text](path), ![alt](path)) in the pages names an
    existing file (a #fragment is ignored).
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HASH = r"[0-9a-f]{7,40}"
STAMP = re.compile(r"^_Measured on (?P<ref>(?P<h1>" + HASH + r")|an unrecorded build \(written in "
                   r"(?P<h2>" + HASH + r")\)), (?P<machine>[^,]+), (?P<date>\d{4}-\d\d-\d\d)(?:; .+)?\._$")
NUM = r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?"
MEASURED = [
    re.compile(NUM + r"(?:(?:-| to | / )" + NUM + r")? ?(?:s|ms|us|µs|ns|min|seconds?|minutes?|hours?)\b"),
    re.compile(NUM + r" ?(?:GB/s|GFLOP/s|cells/s)"),
    re.compile(r"(?<![\w.])\d+(?:\.\d+)?x\b"),
    re.compile(r"\b[Mm]easured\b"),
]
SETTINGS = [  # removed from a line before MEASURED is applied
    re.compile(r"\b(?:every|than|up to) " + NUM + r" ?(?:s|ms|min)\b"),
    re.compile(NUM + r" ?s before\b"),
    re.compile(r"^.*\bhang guard\b.*$"),
    re.compile(r"\bmeasured (?:`wall_s`|\(not computed\))"),
]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(lines):
    """(line number, line) for the lines outside fenced code."""
    fence = None
    for i, line in enumerate(lines, 1):
        m = re.match(r"^\s*(```+|~~~+)", line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * 3
            elif m.group(1).startswith(fence):
                fence = None
            continue
        if fence is None:
            yield i, line


def is_commit(h):
    """True if h is a commit in the history of HEAD: a commit that exists only
    on a side branch or in the reflog is missing from a fresh clone."""
    try:
        r = subprocess.run(["git", "-C", HERE, "merge-base", "--is-ancestor", h, "HEAD"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    return r.returncode == 0


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else HERE)
    in_git = subprocess.run(["git", "-C", HERE, "rev-parse", "--git-dir"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL).returncode == 0
    docs = os.path.join(root, "docs")
    pages = [os.path.join(root, "README.md")]
    if os.path.isdir(docs):
        pages += sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    problems = []
    nlinks = nmeasured = nstamps = 0
    readme_targets = set()

    def bad(path, line, what):
        problems.append("%s:%d: %s" % (os.path.relpath(path, root), line, what))

    for path in pages:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        stamped = False
        for i, raw in prose(lines):
            if raw.startswith("_Measured on"):
                m = STAMP.match(raw)
                if not m:
                    bad(path, i, "stamp not in the form '_Measured on REF, MACHINE, DATE._': " + raw)
                    continue
                h = m.group("h1") or m.group("h2")
                if in_git and not is_commit(h):
                    bad(path, i, "stamp names %s, not a commit in the history of HEAD" % h)
                    continue
                stamped = True
                nstamps += 1
                continue
            t = raw
            for s in SETTINGS:
                t = s.sub(" ", t)
            t = re.sub(r"`[^`]*`", "``", t)
            hit = next((m.group(0) for r in MEASURED for m in [r.search(t)] if m), None)
            if hit:
                nmeasured += 1
                if not stamped:
                    bad(path, i, "measured value (%r) with no 'Measured on' stamp above it" % hit)
            for m in LINK.finditer(re.sub(r"`[^`]*`", "``", raw)):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                    continue
                nlinks += 1
                file = os.path.normpath(os.path.join(os.path.dirname(path), target.split("#")[0]))
                if path == pages[0]:
                    readme_targets.add(file)
                if not os.path.exists(file):
                    bad(path, i, "link to %s: no such file" % target)
    for path in pages[1:]:
        if path not in readme_targets:
            bad(path, 1, "page not linked from README.md")
    for p in problems:
        print("check_docs: " + p)
    print("check_docs: %d pages, %d relative links, %d measured lines, %d stamps%s: %s"
          % (len(pages), nlinks, nmeasured, nstamps, "" if in_git else " (hashes not checked: no git)",
             "%d problems" % len(problems) if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
