#!/usr/bin/env bash
# Installs everything stemscribe needs on a fresh Debian/Ubuntu machine: the FluidSynth library,
# the four soundfonts, Chromium (for the report's browser test) and the Python package with
# its dependencies. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont csound-soundfont chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
# The CPU build of PyTorch: this exact spelling picks the local CPU wheel (no CUDA download).
if ! $PY -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  $PY -m pip install -q torch==2.13.0
fi
if ! $PY -c "import stemscribe, pytest" 2>/dev/null || [ pyproject.toml -nt .setup-stamp ]; then
  $PY -m pip install -q -e ".[test]"
  touch .setup-stamp
fi
echo "setup: ready"
