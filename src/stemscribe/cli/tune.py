"""`stemscribe tune`: choose a checkpoint's mask exponents, activity gate and note thresholds per
class on the validation split."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune", help="tune a checkpoint's mask exponents, activity gate and note thresholds on validation data",
        description="Run the model once over each track of a Slakh-layout validation folder; sweep, per class, "
                    "the mask exponent and the activity gate's bounds for the best stem SI-SDR, then the onset and frame thresholds "
                    "for the best note F1, and store them in the checkpoint, where `separate` and the Separator "
                    "API use them unless thresholds are given. The test split is refused.")
    p.add_argument("checkpoint", help="checkpoint file (.pt) to tune")
    p.add_argument("--data", nargs="+", default=["data/validation"], metavar="DIR",
                   help="Slakh-layout validation folder(s), pooled (default: data/validation)")
    p.add_argument("--out", default=None, help="write the tuned checkpoint here (default: update CHECKPOINT in place)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N tracks")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-gate-tuning", action="store_true",
                   help="keep the default activity gate")
    p.add_argument("--no-mask-power-tuning", action="store_true",
                   help="keep the network's masks as they are (mask exponent 1)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from . import UserError
    from ..checkpoint import CheckpointError
    from ..data.slakh import DataError

    if not Path(args.checkpoint).is_file():
        raise UserError(f"{args.checkpoint}: no such checkpoint file")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    from ..evaluate.tune import analyse_tracks, tune_gates, tune_mask_power, tune_thresholds, write_tuning
    from ..separator import Separator

    try:
        sep = Separator(args.checkpoint, device=args.device)
    except (CheckpointError, ValueError) as e:
        raise UserError(str(e)) from None
    if "tr" not in sep.heads and "mi" not in sep.heads:
        raise UserError(f"{args.checkpoint}: neither this model's mask head nor its transcription head was trained; "
                        f"nothing to tune")
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr))
    sep.tuned_gate = {}                      # start from the defaults, whatever was tuned before
    sep.tuned_mask_power = {}
    try:
        tracks = analyse_tracks(sep, args.data, args.limit, progress=say)
    except DataError as e:
        raise UserError(str(e)) from None
    power = None
    if "mi" in sep.heads and not args.no_mask_power_tuning:
        power = tune_mask_power(sep, tracks, progress=say)
        sep.tuned_mask_power = dict(power.powers)
    gates = {}
    if sep.gating and not args.no_gate_tuning:
        gates = tune_gates(sep, tracks, progress=say)
        sep.tuned_gate = {c: {"low": g.low, "high": g.high} for c, g in gates.items()}
        if power:                            # the exponents again, under the chosen gates
            power = tune_mask_power(sep, tracks, progress=say, start=power.powers)
            sep.tuned_mask_power = dict(power.powers)
    tuning = {}
    if "tr" in sep.heads:
        tuning = tune_thresholds(sep, tracks, progress=say)
        if not tuning:
            raise UserError(f"{' '.join(args.data)}: no track has reference notes of any of the model's classes")
    dest = write_tuning(args.checkpoint, tuning, args.data, args.out, gates, power)
    if power:
        print(f"mask power: " + ", ".join(f"{c} {p:g}" for c, p in power.powers.items())
              + f" (mean SI-SDR {power.si_sdr_default:.2f} -> {power.si_sdr:.2f} dB)")
    if gates:
        print(f"{'class':<8} {'gate':>9} {'SI-SDR default':>14} {'chosen':>6} {'no gate':>7} tracks")
        for c, g in gates.items():
            bounds = f"{g.low:.2f}-{g.high:.2f}" if g.high > 0 else "none"
            print(f"{c:<8} {bounds:>9} {g.si_sdr_default:>14.2f} {g.si_sdr:>6.2f} {g.si_sdr_ungated:>7.2f} {g.tracks}")
    if tuning:
        print(f"{'class':<8} {'onset':>5} {'frame':>5} {'F1 before':>9} {'F1 after':>8} tracks")
        for c, t in tuning.items():
            print(f"{c:<8} {t.onset_threshold:>5.2f} {t.frame_threshold:>5.2f} {t.onset_f1_default:>9.3f} "
                  f"{t.onset_f1:>8.3f} {t.tracks}")
    print(f"wrote {dest}")
    return 0
