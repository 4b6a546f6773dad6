#!/usr/bin/env bash
# gallery.sh - the gallery (docs/gallery.md): run each paper's config, draw its
# figures (analysis/plot_run.py), copy small PNGs (800 px wide, < 150 kB) into
# docs/gallery/, and rewrite docs/gallery.md between its markers from
# docs/gallery/*.md (one caption + command block per entry).
#
#   scripts/gallery.sh [--reuse] [NAME ...]     (default: every entry)
#
# --reuse: keep a run directory that is already complete (manifest status
# "complete") instead of running it again. A config that is missing or that
# this tsim does not accept yet (`tsim validate` fails) is skipped with a
# note, and its earlier gallery entry, if any, is kept. Environment:
# GALLERY_NP (ranks, 2), GALLERY_OUT (out/gallery), GALLERY_DOCS
# (docs/gallery), GALLERY_README (docs/gallery.md), GALLERY_SET (extra words
# "--set key=value ..." for every run: a quick smoke test, not the gallery),
# TSIM (bin/tsim), PYTHON (/usr/bin/python3).
set -uo pipefail
cd "$(dirname "$0")/.."
NP=${GALLERY_NP:-2}
OUT=${GALLERY_OUT:-out/gallery}
TSIM=${TSIM:-bin/tsim}
PY=${PYTHON:-/usr/bin/python3}
DOCS=${GALLERY_DOCS:-docs/gallery}
README=${GALLERY_README:-docs/gallery.md}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# name | config | run overrides | plot_run.py options | figures | caption
# Overrides reduce a run that takes more than ~2 minutes on 2 cores; the
# caption says so.
ENTRIES=(
  "wang2021_fig1|configs/wang2021_fig1.yaml|||fig1_wang fig2_neurons|Wang & Abernethy, Fig. 1 (training dynamics per K, 5 seeds) and Figs. 2/6 (parallel and perpendicular parts, one seed per K)."
  "wang2021_late|configs/wang2021_late.yaml|||fig1_wang|Wang & Abernethy, the Fig. 1 setting run to t = 5e4: K = 1 converges (dist < 1e-6) near t = 13500 while K = 3 and 10 decay as a power law (summary.md lists each claim about K > 1 against the run; docs/reproductions.md quotes them)."
  "wang2021_fig4|configs/wang2021_fig4.yaml|||fig4_scale|Wang & Abernethy, Fig. 4 (ICLR submission only): iterations until quantity (9) > 0 against the output scale C (10 seeds)."
  "wang2021_fig9|configs/wang2021_fig9.yaml|||fig9_entry|Wang & Abernethy, Fig. 9 (ACML: Fig. 8): iterations until quantity (9) > 0 against the step size (600 cells, 20 seeds; under 10 s on 2 ranks)."
  "wang2021_hessian|configs/wang2021_hessian.yaml|||hessian_spectrum|Hessian spectrum along the Fig. 1 trajectories: eigenvalues, the smallest outside the limit's zero modes and quantity (9), against t."
  "xu2023_fig1|configs/xu2023_fig1.yaml|||fig1_xu|Xu & Du, Fig. 1: population loss against t per K and the effective exponent log_{ηT} L."
  "xu2023_empirical|configs/xu2023_empirical.yaml|--set train.iterations=2000 --set data.n=[10000,100000]|--population OUT/xu2023_fig1|fig1_xu_empirical|Xu & Du, empirical check: finite n against the population curve. Reduced size: 2000 iterations and n in {1e4, 1e5} (44-66 s on 2 ranks; the committed 5e4 iterations up to n = 1e6 would take hours on 2 cores)."
  "zhou2021_claim2|configs/zhou2021_claim2.yaml|||claim2_zhou|Zhou, Ge & Jin, Claim 2: the loss of two students at ±δ is Θ(δ³) (one student: Θ(δ²))."
  "zhou2021_local|configs/zhou2021_local.yaml|||local_zhou|Zhou, Ge & Jin, local convergence: loss against t per number of students m, and each teacher's best-aligned student."
  "zhou2021_fig1|configs/zhou2021_fig1.yaml|||fig1_zhou_trajectories|Zhou, Ge & Jin, Fig. 1, qualitatively (output.weights): each student's path w_k(t) in d = 2 with the 3 teacher lines, from a large, a small (mean-field-like) and a near-teacher (local) initialisation; gradient flow with our scales (the paper gives none); the large initialisation is not the lazy (NTK) regime."
  "martin2024_recovery|configs/martin2024_recovery.yaml|--set model.d=100||recovery_martin|Martin, Bach & Biroli: final risk and overlap against m/m*. Reduced size: d = 100 only (8 s on 2 ranks; the committed grid adds d = 1000, which took 208 s more on 2 shared cores)."
)

REUSE=0
WANT=()
for a in "$@"; do
  case "$a" in
    --reuse) REUSE=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) WANT+=("$a") ;;
  esac
done
if ! "$PY" -c 'import numpy, matplotlib' 2>/dev/null; then
  echo "gallery.sh: $PY needs numpy and matplotlib (scripts/deps.sh)" >&2; exit 2
fi
[ -x "$TSIM" ] || { echo "gallery.sh: $TSIM not built (make)" >&2; exit 2; }
mkdir -p "$OUT" "$DOCS"
LINK=$(realpath --relative-to="$(dirname "$README")" "$DOCS")   # image paths as seen from README

wanted() {
  [ ${#WANT[@]} -eq 0 ] && return 0
  local w; for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1
}
complete() { [ -f "$1/manifest.json" ] && grep -q '"status": "complete"' "$1/manifest.json"; }

made=0 skipped=0 failed=0
for entry in "${ENTRIES[@]}"; do
  IFS='|' read -r name config overrides plotopts stems caption <<< "$entry"
  wanted "$name" || continue
  dir="$OUT/$name"
  overrides="$overrides${GALLERY_SET:+ $GALLERY_SET}"
  overrides=${overrides# }
  plotopts=${plotopts//OUT/$OUT}
  if [ ! -f "$config" ]; then
    echo "skip $name: $config not in this tree yet"; skipped=$((skipped + 1)); continue
  fi
  # shellcheck disable=SC2086  # overrides are words: --set key=value ...
  if ! "$TSIM" validate "$config" $overrides >/dev/null 2>"$OUT/$name.validate.err"; then
    echo "skip $name: this tsim does not accept $config yet: $(head -1 "$OUT/$name.validate.err")"
    skipped=$((skipped + 1)); continue
  fi
  # one rank: no mpirun (a singleton run; it also inherits the environment
  # as it is, which the sanitizer builds of the tests rely on)
  if [ "$NP" = 1 ]; then
    launch=(nice); shown=""
  else
    launch=(nice mpirun -q --oversubscribe -np "$NP"); shown="mpirun -np $NP "
  fi
  runcmd="$shown$TSIM run $config${overrides:+ $overrides} -o $dir --force"
  plotcmd="$PY analysis/plot_run.py $dir${plotopts:+ $plotopts}"
  if [ "$REUSE" = 1 ] && complete "$dir"; then
    echo "$name: reusing $dir"
  else
    echo "$name: $runcmd"
    start=$(date +%s)
    # shellcheck disable=SC2086
    if ! "${launch[@]}" "$TSIM" run "$config" $overrides -o "$dir" --force \
         --progress log --progress-seconds 60 > "$OUT/$name.log" 2>&1; then
      echo "FAILED $name: tsim run (see $OUT/$name.log)"; failed=$((failed + 1)); continue
    fi
    echo "$name: ran in $(( $(date +%s) - start )) s"
  fi
  # shellcheck disable=SC2086
  if ! $plotcmd > "$OUT/$name.plot.log" 2>&1; then
    echo "FAILED $name: plot_run.py (see $OUT/$name.plot.log)"; failed=$((failed + 1)); continue
  fi
  pngs=()
  for stem in $stems; do
    src="$dir/figures/$stem.png"
    if [ ! -f "$src" ]; then
      echo "FAILED $name: $src not drawn (see $dir/summary.md)"; failed=$((failed + 1)); continue 2
    fi
    "$PY" analysis/gallery_png.py "$src" "$DOCS/${name}_$stem.png" || echo "note: $DOCS/${name}_$stem.png is over 150 kB"
    pngs+=("${name}_$stem.png")
  done
  {
    echo "### $name"
    echo
    echo "$caption"
    echo
    for p in "${pngs[@]}"; do echo "![$name: ${p%.png}]($LINK/$p)"; echo; done
    echo '```sh'
    echo "$runcmd"
    echo "$plotcmd          # or: make figures RUN=$dir"
    echo "scripts/gallery.sh $name                                       # both, then the small PNGs above"
    echo '```'
    echo
  } > "$DOCS/$name.md"
  made=$((made + 1))
done

# $README: the Gallery section is rebuilt between its markers from the
# entries that have a caption file (in ENTRIES order), so a partial re-run
# keeps the others.
if grep -q '<!-- gallery:begin -->' "$README" && grep -q '<!-- gallery:end -->' "$README"; then
  body="$OUT/gallery.md"
  : > "$body"
  for entry in "${ENTRIES[@]}"; do
    name=${entry%%|*}
    [ -f "$DOCS/$name.md" ] && cat "$DOCS/$name.md" >> "$body"
  done
  awk -v body="$body" '
    /<!-- gallery:begin -->/ { print; while ((getline line < body) > 0) print line; skip = 1; next }
    /<!-- gallery:end -->/ { skip = 0 }
    !skip { print }' "$README" > "$README.tmp" && mv "$README.tmp" "$README"
else
  echo "note: $README has no <!-- gallery:begin/end --> markers; section not updated"
fi
echo "gallery: $made made, $skipped skipped, $failed failed; PNGs in $DOCS/"
[ "$failed" -eq 0 ]
