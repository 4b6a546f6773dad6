#!/usr/bin/env bash
# entry_times.sh CELLS.CSV - per K: mean, min and max over seeds of the
# entry times (quantity (9) > 0, Lemma 1 region) and the status counts.
set -euo pipefail
awk -F, '
NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
{
  k = $col["K"]; n[k]++
  v = $col["t_q9_positive"]
  if (v != "") { s[k] += v; c[k]++; if (!(k in lo) || v < lo[k]) lo[k] = v; if (v > hi[k]) hi[k] = v }
  l = $col["t_lemma1"]; if (l != "") { sl[k] += l; cl[k]++ }
  st[k "," $col["status"]]++
}
END {
  printf "%-6s %-6s %-28s %-16s %s\n", "K", "cells", "t_q9_positive mean [min,max]", "t_lemma1 mean", "status"
  for (k in n) keys[++m] = k + 0
  for (i = 1; i <= m; ++i) for (j = i + 1; j <= m; ++j) if (keys[j] < keys[i]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
  for (i = 1; i <= m; ++i) {
    k = keys[i]
    q = c[k] ? sprintf("%.0f [%d,%d]", s[k] / c[k], lo[k], hi[k]) : "never"
    l = cl[k] ? sprintf("%.0f (%d/%d)", sl[k] / cl[k], cl[k], n[k]) : "never"
    stat = ""
    nn = split("converged max_iterations reached_T evaluated diverged", names, " ")
    for (x = 1; x <= nn; ++x) if (st[k "," names[x]]) stat = stat sprintf("%s %d ", names[x], st[k "," names[x]])
    printf "%-6s %-6d %-28s %-16s %s\n", k, n[k], q, l, stat
  }
}' "$1"
