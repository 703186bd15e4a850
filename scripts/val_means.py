"""Print per-class and class-mean SI-SDR and onset F1 of `stemscribe evaluate` summaries
(the numbers a candidate model is selected on, e.g. on data/val5_sf).

    python scripts/val_means.py results/a results/b ...
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stemscribe.classes import PAPER_SETS  # noqa: E402
from stemscribe.evaluate.tables import _class_mean, _mean  # noqa: E402

for d in sys.argv[1:]:
    s = json.loads((Path(d) / "summary.json").read_text())
    sdr = [_mean(s, 5, "model", c, "si_sdr") for c in PAPER_SETS[5]]
    on = [_mean(s, 5, "model", c, "onset_f1") for c in PAPER_SETS[5]]
    print(f"{d}: SI-SDR {' / '.join(f'{v:.2f}' for v in sdr)} mean {_class_mean(sdr):.3f} | "
          f"onset {' / '.join(f'{v:.3f}' for v in on)} mean {_class_mean(on):.4f}")
