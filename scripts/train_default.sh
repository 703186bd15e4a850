#!/usr/bin/env bash
# Train (or resume) the default model in the background; the log goes to logs/train_default.log.
# Usage: scripts/train_default.sh [extra stemscribe train args]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs
DATA=$(ls -d data/train* 2>/dev/null | tr '\n' ' ')
setsid nohup stemscribe train --preset default --data $DATA --val-data data/validation \
  --out runs/default --resume "$@" >> logs/train_default.log 2>&1 < /dev/null &
echo "training in the background (pid $!), log: logs/train_default.log"
