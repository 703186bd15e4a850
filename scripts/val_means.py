"""Print per-class and class-mean SI-SDR and onset F1 of `stemscribe evaluate` summaries
(the numbers a candidate model is selected on, e.g. on data/val5_sf).

    python scripts/val_means.py results/a results/b ...
"""
import json
import sys
from pathlib import Path

CLASSES = ("piano", "guitar", "bass", "drums", "strings")

for d in sys.argv[1:]:
    m = json.loads((Path(d) / "summary.json").read_text())["means"]["5"]["model"]
    sdr = [m[c]["si_sdr"]["mean"] for c in CLASSES]
    on = [m[c]["onset_f1"]["mean"] for c in CLASSES]
    print(f"{d}: SI-SDR {' / '.join(f'{v:.2f}' for v in sdr)} mean {sum(sdr) / 5:.3f} | "
          f"onset {' / '.join(f'{v:.3f}' for v in on)} mean {sum(on) / 5:.4f}")
