#!/usr/bin/env bash
# Build .gpu/pack, what scripts/gpu_segment.sh needs on a bare, offline GPU machine (Python 3.12,
# PyTorch, no FluidSynth), small enough to travel with the working tree (64 MiB in all; the pack is
# about 33 MB, the tracked tree about 21 MB):
#   site.tar.xz   cp312 wheels, unpacked: soundfile, soxr, pretty_midi, mido, pyfluidsynth, pedalboard,
#                 music21 (+ chardet, jsonpickle, more-itertools, webcolors), with music21's corpus
#                 folders that no train/validation track may use (the test partition's composers and
#                 the skipped tune books, synth/corpus.py) left out: 21 MB
#   lib.tar.xz    libfluidsynth.so.3 and every shared library it loads, from this Debian 12 machine,
#                 except glibc's and the C++ runtime, which the GPU machine has: 7.5 MB
#   TimGM6mb.sf2  the small training soundfont (FluidR3_GM, 148 MB, does not fit): 6 MB
# Run from the repository root on a machine where `make demo` has installed FluidSynth.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
W=.gpu/whl
P=.gpu/pack
mkdir -p $W $P
plat=""
for p in manylinux_2_31_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
         manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64 any; do plat+=" --platform $p"; done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $plat -d $W \
  soundfile==0.14.0 soxr==1.1.0 pretty_midi==0.2.11.post0 mido==1.3.3 pyfluidsynth==1.4.0 pedalboard==0.9.26 \
  music21==10.5.1 chardet==7.7.0 jsonpickle==4.1.4 more-itertools==11.2.1 webcolors==25.10.0

T=$(mktemp -d)
mkdir -p "$T/site" "$T/lib"
for w in $W/*.whl; do unzip -q -o "$w" -d "$T/site"; done
python3 - "$T/site/music21/corpus" <<'EOF'
import shutil
import sys
from pathlib import Path

from stemscribe.synth.corpus import RESERVED_FOLDERS, SKIPPED_FOLDERS

root = Path(sys.argv[1])
for name in RESERVED_FOLDERS + SKIPPED_FOLDERS:
    shutil.rmtree(root / name, ignore_errors=True)
EOF
find "$T/site" -name __pycache__ -prune -exec rm -rf {} +
tar -C "$T" -cJf $P/site.tar.xz site

LIBFS=$(python3 -c "import ctypes.util; print(ctypes.util.find_library('fluidsynth'))")
LIBFS=$(ldconfig -p | awk -v n="$LIBFS" '$1 == n {print $NF; exit}')
cp -L "$LIBFS" "$T/lib/"
for f in $(ldd "$LIBFS" | awk '{print $3}' | grep /); do
  case $(basename "$f") in libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) continue;; esac
  cp -L "$f" "$T/lib/"
done
tar -C "$T" -cJf $P/lib.tar.xz lib
cp -L "$(python3 -c 'from stemscribe.soundfonts import find_soundfont; print(find_soundfont("TimGM6mb"))')" $P/
rm -rf "$T"
du -sh $P/*
