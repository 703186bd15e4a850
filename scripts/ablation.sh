#!/usr/bin/env bash
# The paper's ablation at one equal budget: train every preset for STEPS steps on the same data
# (phase "train"); tune every preset with a mask or transcription head (mask exponents, note
# thresholds) on the validation split and evaluate each on the 5-instrument test set (phase "eval"); write the table
# (phase "table"). Resumable: a finished run or evaluation is skipped.
# Usage: scripts/ablation.sh train|eval|table [STEPS] [THREADS]
# Environment: SEED=N trains with seed N into runs/ablation_seedN (default: seed 0, runs/ablation);
# PRESETS="default mi tr" limits the presets; the table phase with SEEDS="0 1 2" adds the mean
# and spread over those seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
PHASE=${1:?train, eval or table}
STEPS=${2:-600}
THREADS=${3:-1}
PRESETS=${PRESETS:-"default mi tr dc cerberus chimera mi_tr dc_tr"}
SEED=${SEED:-0}
ROOT=runs/ablation; [ "$SEED" = 0 ] || ROOT=runs/ablation_seed$SEED
DATA=$(ls -d data/train* | tr '\n' ' ')
mkdir -p "$ROOT" logs
case "$PHASE" in
train)
  for p in $PRESETS; do
    if [ -f "$ROOT/$p/best.pt" ] && python3 -c "import torch,sys; sys.exit(0 if torch.load('$ROOT/$p/last.pt', map_location='cpu', weights_only=False)['step'] >= $STEPS else 1)"; then
      echo "$p: done"; continue; fi
    stemscribe train --preset "$p" --data $DATA --val-data data/validation --out "$ROOT/$p" \
      --steps "$STEPS" --threads "$THREADS" --seed "$SEED" --resume
  done ;;
eval)
  for p in $PRESETS; do
    [ -f "$ROOT/$p/eval/summary.json" ] && { echo "$p: evaluated"; continue; }
    case "$p" in dc) ;; *)
      stemscribe tune "$ROOT/$p/best.pt" --data data/validation --limit "${TUNE_TRACKS:-12}" --threads "$THREADS" -q ;;
    esac
    stemscribe evaluate --data data/test --model "$ROOT/$p/best.pt" --sets 5 --baselines none \
      --out "$ROOT/$p/eval" --threads "$THREADS" -q
  done ;;
table)
  python3 -m stemscribe.evaluate.ablation "$ROOT" $PRESETS
  if [ -n "${SEEDS:-}" ]; then
    roots=$(for s in $SEEDS; do [ "$s" = 0 ] && printf runs/ablation, || printf runs/ablation_seed%s, "$s"; done)
    echo; python3 -m stemscribe.evaluate.ablation --seeds "${roots%,}" $PRESETS
  fi ;;
esac
