#!/usr/bin/env bash
# test_layout.sh - the library's objects call each other downward only.
# From `nm` of the objects of src/*.c (main.c aside) in BUILD: an edge
# A -> B when A.o references (U) a symbol that B.o defines. The graph must
# be acyclic (a cycle is printed with the symbols of its edges), and its
# topological layers are printed: layer 0 references no other object,
# layer k only objects of the layers below. And MPI's symbols (MPI_*,
# PMPI_*, ompi_*) are referenced by parallel.o alone (main.o included),
# and the engine files (engine_*.o) by the engine table (engine.o) alone.
# Reads the objects of the last build (make bin/tsim first).
SUITE=layout
source "$(dirname "$0")/lib.sh"

objs=() missing=()
for c in "$ROOT"/src/*.c; do
  name=$(basename "$c" .c)
  o="$ROOT/$BUILD/$name.o"
  if [ -e "$o" ]; then objs+=("$o"); else missing+=("$name.o"); fi
done
check "every object of src/*.c is built in $BUILD${missing:+ (missing: ${missing[*]})}" \
  test ${#missing[@]} -eq 0
[ ${#objs[@]} -gt 0 ] || { finish; exit; }

for o in "${objs[@]}"; do
  nm "$o" | sed "s|^|$(basename "$o" .o) |"
done > "$TMP/nm.txt"
check "nm reads the objects" test -s "$TMP/nm.txt"

# graph.py NM: the cycles ("cycle: a -> b -> a" then one line per edge with
# its symbols), the layers ("layer N: a b c") and the MPI references ("mpi:
# a.o references MPI_Send")
cat > "$TMP/graph.py" <<'PY'
import re, sys
defs, refs = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    obj = f[0]
    refs.setdefault(obj, set())
    if len(f) == 3 and f[1] == "U":
        refs[obj].add(f[2])
    elif len(f) == 4 and f[2] in "TDBRCGSVWi":
        defs.setdefault(f[3], obj)
for obj in sorted(refs):
    for s in sorted(refs[obj]):
        if obj != "parallel" and re.match(r"(MPI_|PMPI_|ompi_)", s):
            print(f"mpi: {obj}.o references {s}")
lib = sorted(o for o in refs if o != "main")
edges = {a: {} for a in lib}
for a in lib:
    for s in refs[a]:
        b = defs.get(s)
        if b and b != a and b != "main":
            edges[a].setdefault(b, []).append(s)
# strongly connected components (Tarjan), each with more than one object a cycle
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1
    stack.append(v); on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        sccs.append(sorted(c))
sys.setrecursionlimit(10000)
for v in lib:
    if v not in index: visit(v)
for c in sccs:
    if len(c) < 2: continue
    # one cycle through c[0]: breadth-first back to it inside the component
    inside, start, prev, queue = set(c), c[0], {}, [c[0]]
    while queue and start not in prev:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w in inside and w not in prev:
                prev[w] = v; queue.append(w)
    path, v = [start], prev[start]
    while v != start:
        path.append(v); v = prev[v]
    path = [start] + path[1:][::-1] + [start]
    print(f"cycle: {' -> '.join(path)} (of the objects {' '.join(c)})")
    for a, b in zip(path, path[1:]):
        print(f"  {a}.o -> {b}.o: {', '.join(sorted(edges[a][b]))}")
    for a in c:
        print(f"  within: {a}.o -> {' '.join(b for b in sorted(edges[a]) if b in inside)}")
layer, left = {}, set(lib)
while left:
    ready = sorted(v for v in left if all(w in layer for w in edges[v]))
    if not ready: break
    for v in ready:
        layer[v] = max([layer[w] + 1 for w in edges[v]] or [0])
    left -= set(ready)
for k in sorted(set(layer.values())):
    print(f"layer {k}: {' '.join(v for v in lib if layer.get(v) == k)}")
if left:
    print(f"layer ?: {' '.join(sorted(left))} (in or above a cycle)")
for a in sorted(refs):
    for s in sorted(refs[a]):
        b = defs.get(s)
        if b and b.startswith("engine_") and a not in ("engine", b):
            print(f"engine: {a}.o references {b}.o ({s})")
PY
/usr/bin/python3 "$TMP/graph.py" "$TMP/nm.txt" > "$TMP/graph.txt" 2>&1
check "the object graph is read" grep -q '^layer 0: ' "$TMP/graph.txt"
grep -v '^mpi: \|^engine: ' "$TMP/graph.txt"
check "the library's objects reference each other without a cycle" \
  test -z "$(grep '^cycle: ' "$TMP/graph.txt")"
grep '^mpi: ' "$TMP/graph.txt"
check "MPI symbols are referenced by parallel.o alone" \
  test -z "$(grep '^mpi: ' "$TMP/graph.txt")"
grep '^engine: ' "$TMP/graph.txt"
check "the engine files are referenced by the engine table alone" \
  test -z "$(grep '^engine: ' "$TMP/graph.txt")"
# the code says what it means in place or points into docs/: no file of the
# repository cites design notes kept outside it
outside=$(cd "$ROOT" && git grep -n -I -E 'DESIGN\.md|EXPERIMENTS\.md|\.\./shared/' -- \
            src include tests analysis jobs scripts configs python Makefile ':!tests/test_layout.sh' 2>/dev/null)
[ -z "$outside" ] || echo "$outside" | sed 's/^/#   /'
check "no source, test, script or config cites DESIGN.md, EXPERIMENTS.md or ../shared" test -z "$outside"
# a new engineer finds a concept by file name: docs/layout.md names every src/*.c
unnamed=()
for c in "$ROOT"/src/*.c; do
  grep -q -w -F "$(basename "$c")" "$ROOT/docs/layout.md" || unnamed+=("$(basename "$c")")
done
check "docs/layout.md names every src/*.c${unnamed:+ (not: ${unnamed[*]})}" test ${#unnamed[@]} -eq 0
finish
