"""`stemscribe separate`: stems, MIDI and activity for each input file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("separate", help="separate and transcribe recordings",
                       description="Write, for each input, OUT/<track>/ with one stem, one MIDI file and the "
                                   "activity of every instrument, plus transcription.mid (and report.html).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched for audio)")
    p.add_argument("-o", "--out", default="separated", help="output folder (default: ./separated)")
    p.add_argument("--stems", default=None, help="comma-separated subset of stems, e.g. piano,bass")
    p.add_argument("--model", default="default", help="registry name or checkpoint path (default: default)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--format", default="wav", choices=["wav", "flac"], help="stem audio format")
    p.add_argument("--no-midi", action="store_true", help="do not write MIDI files")
    p.add_argument("--report", action="store_true", help="also write report.html, a listening report")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--onset-threshold", type=float, default=None,
                   help="note onset probability (0-1; default: the model's, tuned per class on validation data)")
    p.add_argument("--frame-threshold", type=float, default=None,
                   help="note sustain probability (0-1; default: the model's, tuned per class on validation data)")
    p.add_argument("--min-note-length", type=float, default=0.05, help="shortest note kept, seconds")
    p.add_argument("--no-gate", action="store_true", help="do not gate stems by the activity head")
    p.add_argument("--mask-power", type=float, default=None,
                   help="exponent for every mask before renormalising: below 1 softer stems (fewer artefacts, "
                        "more bleed), above 1 harder (default: the model's values tuned on validation)")
    p.add_argument("--chunk-seconds", type=float, default=20.0, help="network chunk length, seconds")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the network (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def collect_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Audio files named by the inputs, and one error sentence per input that yields none."""
    from ..audio import find_audio_files

    files, errors = [], []
    for s in inputs:
        p = Path(s)
        if not p.exists():
            errors.append(f"{p}: no such file or folder")
        elif p.is_dir():
            found = find_audio_files(p)
            if not found:
                errors.append(f"{p}: the folder contains no audio files")
            files.extend(found)
        else:
            files.append(p)
    return files, errors


def track_names(files: list[Path]) -> list[str]:
    """Output folder names: the file stem, made unique when two inputs share one."""
    names, seen = [], set()
    for f in files:
        n = f.stem
        if n in seen:
            n = f"{f.stem}_{f.suffix.lstrip('.')}"
        k = 2
        while n in seen:
            n, k = f"{f.stem}_{k}", k + 1
        seen.add(n)
        names.append(n)
    return names


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import UserError
    from ..audio import AudioError
    from ..checkpoint import CheckpointError
    from ..notes import DecodeOptions
    from ..results import OutputExistsError
    from ..separator import Separator, SeparatorOptions

    files, errors = collect_inputs(args.inputs)
    for e in errors:
        print(f"stemscribe separate: error: {e}", file=sys.stderr)
    if not files:
        return 1
    for name, v in (("--onset-threshold", args.onset_threshold), ("--frame-threshold", args.frame_threshold)):
        if v is not None and not 0.0 < v < 1.0:
            raise UserError(f"{name} must be between 0 and 1, got {v}")
    if args.mask_power is not None and not 0.0 < args.mask_power <= 10.0:
        raise UserError(f"--mask-power must be above 0 and at most 10, got {args.mask_power}")
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    opts = SeparatorOptions(chunk_seconds=args.chunk_seconds, gate=not args.no_gate, mask_power=args.mask_power,
                            decode=DecodeOptions(args.onset_threshold, args.frame_threshold, args.min_note_length))
    try:
        sep = Separator(args.model, device=args.device, options=opts)
    except (CheckpointError, ValueError) as e:
        raise UserError(str(e)) from None
    stems = [s.strip() for s in args.stems.split(",") if s.strip()] if args.stems else None
    if stems:
        try:
            sep._select(stems)
        except ValueError as e:
            raise UserError(str(e)) from None
    out_root = Path(args.out)
    failed = len(errors)
    batch = tqdm(list(zip(files, track_names(files))), desc="songs", unit="song", disable=args.quiet or len(files) < 2,
                 file=sys.stderr)
    for f, name in batch:
        bar = tqdm(total=1, desc=f.name, unit="chunk", leave=False, disable=args.quiet, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            sep.separate_to(f, out_root / name, stems, args.format, not args.no_midi, args.report, args.overwrite,
                            progress=progress)
            bar.close()
            if not args.quiet:
                print(f"{f} -> {out_root / name}/", file=sys.stderr)
        except (AudioError, OutputExistsError, ValueError) as e:
            bar.close()
            failed += 1
            print(f"stemscribe separate: error: {e}", file=sys.stderr)
    return 1 if failed else 0
