#!/usr/bin/env bash
# deps.sh - make sure the Debian packages tsim needs are installed.
# As root it installs what is missing with apt-get; otherwise it prints the
# exact command to run and fails. Cluster users with `module load` can skip
# it with TSIM_SKIP_DEPS=1.
set -euo pipefail
[ "${TSIM_SKIP_DEPS:-0}" = 1 ] && exit 0
PKGS=(openmpi-bin libopenmpi-dev libopenblas-dev liblapacke-dev
      libscalapack-openmpi-dev libyaml-dev pkg-config make gcc
      python3-numpy python3-matplotlib python3-pandas python3-yaml time)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "tsim: missing packages ${missing[*]} and no apt-get here; install the equivalents (see README)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tsim: missing Debian packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "tsim: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
