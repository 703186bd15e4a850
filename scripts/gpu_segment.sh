#!/usr/bin/env bash
# One training segment on a bare, offline GPU machine that has PyTorch but neither our other
# Python packages nor FluidSynth (the lent H100/H200 machines).
#
# It renders fresh training data there (FluidSynth, TimGM6mb only: FluidR3_GM, 148 MB, does not fit
# the 64 MiB that may travel), caches it in parallel, then fine-tunes the shipped model for a fixed
# wall-clock budget with parallel batch loading, and writes the final weights (no optimiser state)
# to $OUT in 10 MB pieces (reassemble with `cat`).
#
# What travels in PACK (built here by scripts/gpu_pack.sh): site.tar.xz (cp312 wheels, unpacked:
# soundfile, soxr, pretty_midi, mido, pyfluidsynth, pedalboard, music21 without the test-partition
# corpus folders), lib.tar.xz (libfluidsynth.so.3 and the shared libraries it needs, from Debian 12)
# and TimGM6mb.sf2.
#
# Status: run end to end only as a dry run on a 2-core CPU (SKIP_PACK=1 WORKERS=2 CHUNK_H=0.02
# VAL_H=0.02 RENDER_S=1 BUDGET=15 BATCH=4); not yet on a GPU machine, so the carried packages and
# libraries have not been tried there.
#
# Knobs (environment): RENDER_S (seconds of rendering, in CHUNK_H-hour chunks), BUDGET (seconds of
# training), DEADLINE_S (training ends by then, counted from the start), BATCH, LR, SEED, INIT, WORKERS.
set -euo pipefail
PACK=${PACK:-.gpu/pack}
OUT=${OUT:-runs/gpu_out}
RENDER_S=${RENDER_S:-150}
BUDGET=${BUDGET:-300}
DEADLINE_S=${DEADLINE_S:-100000}
BATCH=${BATCH:-32}
LR=${LR:-2e-4}
SEED=${SEED:-107}
INIT=${INIT:-src/stemscribe/weights/default.pt}
export WORKERS=${WORKERS:-$(nproc)}
CHUNK_H=${CHUNK_H:-3}
VAL_H=${VAL_H:-0.3}
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

# --- 1. packages, FluidSynth and the soundfont (SKIP_PACK=1: use this machine's own, for a dry run) ---
G=/tmp/gpu
SS="python3 -m stemscribe"
SF="--soundfont TimGM6mb --only-soundfonts --sample-rate 16000 --quiet"
if [ "${SKIP_PACK:-0}" = 1 ]; then
  export PYTHONPATH=$PWD/src
  LIB=
else
mkdir -p $G
tar -C $G -xJf "$PACK/site.tar.xz"
tar -C $G -xJf "$PACK/lib.tar.xz"
ln -sf libfluidsynth.so.3 $G/lib/libfluidsynth.so
# pyfluidsynth asks ctypes.util.find_library for the library; point it at the carried one in
# every process (the renderer's workers are spawned, so this goes in sitecustomize).
cat > $G/site/sitecustomize.py <<'EOF'
import ctypes.util as _u
import os as _os

_find = _u.find_library


def _find_library(name):
    lib = _os.environ.get("STEMSCRIBE_FLUIDSYNTH_LIB")
    return lib if lib and "fluidsynth" in name else _find(name)


_u.find_library = _find_library
EOF
export PYTHONPATH=$PWD/src:$G/site STEMSCRIBE_FLUIDSYNTH_LIB=$G/lib/libfluidsynth.so.3
mkdir -p /usr/share/sounds/sf2
cp "$PACK/TimGM6mb.sf2" /usr/share/sounds/sf2/
LIB=$G/lib
fi
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no GPU\")"
say "packages ready"

# --- 2. render: a small validation set, then CHUNK_H-hour chunks of corpus ensembles and the default mix ---
LD_LIBRARY_PATH=$LIB $SS synth --out data/gval --split validation --hours "$VAL_H" --seed 7 $SF --workers "$WORKERS"
say "validation rendered"
k=0
DATA=()
while true; do     # at least one chunk, then more until RENDER_S have passed
  s=$(( 5000 + SEED * 10 + k ))
  if (( k % 3 == 2 )); then src=""; else src="--source corpus --ensemble"; fi
  LD_LIBRARY_PATH=$LIB $SS synth --out data/g$k --split train --hours "$CHUNK_H" --seed $s $src $SF --workers "$WORKERS"
  DATA+=("data/g$k"); k=$((k + 1))
  say "chunk $k rendered (${src:-default mix})"
  [ $(( $(date +%s) - T0 )) -lt "$RENDER_S" ] || break
done

# --- 3. cache every track in parallel (training reads only the cache) ---
python3 - "${DATA[@]}" data/gval <<'EOF'
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from stemscribe.data.dataset import cache_track
from stemscribe.data.slakh import find_tracks
from stemscribe.presets import load_preset

m, _ = load_preset("default")
tracks = [t for r in sys.argv[1:] for t in find_tracks(r)]
with ProcessPoolExecutor(int(os.environ.get("WORKERS", "16"))) as ex:
    list(ex.map(cache_track, tracks, [Path("data/cache")] * len(tracks), [m.class_map] * len(tracks),
                [m.sample_rate] * len(tracks), chunksize=8))
print(f"cached {len(tracks)} tracks")
EOF
du -sh data/g* | tail -3
say "cached"

# --- 4. train for the budget (cut so that training ends by DEADLINE_S seconds after the start) ---
LEFT=$(( DEADLINE_S - ($(date +%s) - T0) - 40 ))
if [ "$LEFT" -lt "${BUDGET%.*}" ]; then BUDGET=$LEFT; fi
[ "$BUDGET" -gt 30 ] || { echo "no time left to train (budget $BUDGET s)"; exit 1; }
say "training for $BUDGET s"
PYTHONUNBUFFERED=1 $SS train --preset default --data "${DATA[@]}" --val-data data/gval --out runs/gpu \
  --init "$INIT" --steps 100000 --batch-size "$BATCH" --lr "$LR" --warmup-steps 50 --seed "$SEED" \
  --loader-workers $(( WORKERS - 2 )) --time-budget "$BUDGET" --set log_every=100 2>&1 | tee "$OUT/train.out"
cp runs/gpu/log.jsonl "$OUT/"
say "trained"

# --- 5. weights only, in pieces small enough to travel back ---
python3 - <<'EOF'
import torch
ck = torch.load("runs/gpu/last.pt", map_location="cpu", weights_only=False)
ck.pop("optimizer", None)
torch.save(ck, "/tmp/gpu_last.pt")
print("saved", ck["step"], "steps")
EOF
split -b 10M -d /tmp/gpu_last.pt "$OUT/last.pt.part"
sha256sum /tmp/gpu_last.pt | tee "$OUT/last.pt.sha256"
say "done"
