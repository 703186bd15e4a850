"""``stemscribe synth``: render training data in the Slakh2100 layout."""
from __future__ import annotations

import argparse

from . import UserError

CLASS_NAMES = ("piano", "guitar", "bass", "drums", "strings", "other")


def _seconds_range(text: str) -> tuple[float, float]:
    try:
        parts = [float(x) for x in text.split("-")] if "-" in text.strip("-") else [float(text)] * 2
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not SECONDS or MIN-MAX seconds") from None
    if len(parts) != 2 or not 0 < parts[0] <= parts[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not SECONDS or MIN-MAX seconds with 0 < MIN <= MAX")
    return parts[0], parts[1]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "synth", help="render training data (Slakh2100 layout)",
        description="Render multi-instrument tracks with FluidSynth into the Slakh2100 layout (mix.flac, "
                    "stems/Sxx.flac, MIDI/Sxx.mid, all_src.mid, metadata.yaml). Re-running the same command "
                    "resumes: finished tracks are kept, half-written ones redone. See docs/SYNTH.md.")
    p.add_argument("--out", required=True, help="output folder (receives TrackNNNNN folders)")
    p.add_argument("--split", choices=("train", "validation", "test"), default="train",
                   help="which partition to render; test uses only the reserved soundfont and pieces")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--hours", type=float, help="render tracks until their total length reaches this many hours")
    how.add_argument("--tracks", type=int, help="render this many tracks")
    p.add_argument("--seed", type=int, default=0, help="seed; with the split and track number it fixes every track")
    p.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")
    p.add_argument("--sample-rate", type=int, default=44100, help="Hz (default 44100)")
    p.add_argument("--track-seconds", type=_seconds_range, default=(30.0, 60.0), metavar="S|MIN-MAX",
                   help="length of each track's music in seconds, fixed or a random range (default 30-60)")
    p.add_argument("--source", choices=("procedural", "midi", "corpus", "mix"),
                   help="where the notes come from (default: train/validation mix procedural songs, music21 "
                        "corpus pieces and --midi-dir files; test uses the reserved corpus pieces)")
    p.add_argument("--ensemble", action="store_true",
                   help="arrange corpus pieces as the test split does (strings on the top voice, bass on the "
                        "lowest, piano and guitar on the inner voices and harmony, drums), on this split's own "
                        "pieces; needs --source corpus (train and validation)")
    p.add_argument("--midi-dir", metavar="DIR", help="folder of MIDI files to render (train and validation)")
    p.add_argument("--classes", help=f"comma-separated classes a track may use ({','.join(CLASS_NAMES)}); "
                                     "every listed class then plays in every procedural track")
    p.add_argument("--soundfont", action="append", default=[], metavar="PATH",
                   help="extra soundfont: a file or a known name such as sf_GMbank (repeatable; "
                        "train and validation only)")
    p.add_argument("--only-soundfonts", action="store_true",
                   help="render with only the --soundfont files, not the split's default soundfonts "
                        "(e.g. a validation set in a soundfont the training data never used)")
    p.add_argument("--no-effects", action="store_true", help="no per-stem EQ/compression/reverb/...")
    p.add_argument("--subtype", choices=("PCM_16", "PCM_24", "FLOAT"), default="PCM_16",
                   help="FLAC sample format (FLOAT is written as PCM_24: FLAC has no float samples)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from ..soundfonts import SoundfontError
    from ..synth.generate import SynthConfig, synthesize
    from ..synth.render import RenderError
    from ..synth.sources import SourceError

    classes = None
    if args.classes:
        classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
        bad = [c for c in classes if c not in CLASS_NAMES]
        if bad or not classes:
            raise UserError(f"unknown class {', '.join(bad) or '(none)'} in --classes; choose from {', '.join(CLASS_NAMES)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder (--out takes a folder that receives TrackNNNNN folders)")
    subtype = "PCM_24" if args.subtype == "FLOAT" else args.subtype
    if args.subtype == "FLOAT":
        print("stemscribe synth: FLAC cannot hold float samples; writing PCM_24", file=sys.stderr)
    try:  # SynthConfig validates the numbers (tracks, hours, workers, sample rate, lengths)
        cfg = SynthConfig(out=out, split=args.split, tracks=args.tracks, hours=args.hours, seed=args.seed,
                          workers=args.workers, sample_rate=args.sample_rate, track_seconds=args.track_seconds,
                          classes=classes, source=args.source,
                          midi_dir=Path(args.midi_dir) if args.midi_dir else None,
                          soundfonts=tuple(Path(p) for p in args.soundfont),
                          default_soundfonts=not args.only_soundfonts, ensemble=args.ensemble,
                          effects=not args.no_effects, subtype=subtype)
    except ValueError as e:
        raise UserError(f"invalid settings: {e}") from None
    try:
        rep = synthesize(cfg, progress=not args.quiet)
    except (SoundfontError, SourceError, RenderError) as e:
        raise UserError(str(e)) from None
    except OSError as e:  # cannot create or write the output (permissions, disk full)
        raise UserError(f"{e.filename or out}: cannot write the data set there ({e.strerror or e})") from None
    print(f"{rep.written} tracks written, {rep.kept} kept from an earlier run, {rep.seconds / 3600:.3f} h of audio "
          f"in {cfg.out} ({rep.wall_seconds:.1f} s)")
    return 0
