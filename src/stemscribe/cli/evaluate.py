"""`stemscribe evaluate`: score a model on a Slakh-layout folder, paper-style tables out."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

DEFAULT_BASELINES = "mixture,irm,ibm,basic-pitch"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="score a model on a dataset, paper-style tables",
        description="For each track of a Slakh-layout folder and each instrument set of the Cerberus paper "
                    "(piano+guitar, +bass, +drums, +strings), mix the set's stems, separate and transcribe the "
                    "mixture, and score stems (SI-SDR, SDR/SIR/SAR), notes (onset and onset+offset F1, frame F1, "
                    "drum classes) and activity against the truth, next to baselines. Writes OUT/tracks/*.json, "
                    "OUT/summary.json and OUT/results.md.")
    p.add_argument("--data", required=True, help="Slakh-layout folder (TrackNNNNN/metadata.yaml, stems/, MIDI/)")
    p.add_argument("--model", default="default", help="registry name or checkpoint path (default: default)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--sets", default="2,3,4,5", help="instrument-set sizes to evaluate (default: 2,3,4,5)")
    p.add_argument("--out", default="results", help="results folder (default: ./results)")
    p.add_argument("--markdown", default=None, metavar="PATH",
                   help="also write the markdown tables here (e.g. docs/RESULTS.md)")
    p.add_argument("--eval-rate", type=int, default=16000, help="sample rate of all metrics, Hz (default: 16000)")
    p.add_argument("--seconds", type=float, default=None, help="evaluate only the first S seconds of each track")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N tracks")
    p.add_argument("--baselines", default=DEFAULT_BASELINES,
                   help=f"comma-separated baselines, or 'none' (default: {DEFAULT_BASELINES})")
    p.add_argument("--basic-pitch-sets", default=None, metavar="SETS",
                   help="sets on which basic-pitch runs (default: the largest of --sets; 2,3,4,5 for all, "
                        "which about doubles the evaluation time)")
    p.add_argument("--report", action="store_true", help="write a listening report per track into OUT/reports/")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1, fastest on a small or shared machine; 0: torch's default)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-track progress lines")


def _int_list(text: str, option: str) -> tuple[int, ...]:
    from . import UserError

    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"{option} must be comma-separated integers like 2,3,4,5, got {text!r}") from None


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (defaults left out), for the results page."""
    parts = ["stemscribe", "evaluate", "--data", args.data]
    defaults = {"model": "default", "sets": "2,3,4,5", "out": "results", "markdown": None, "eval_rate": 16000,
                "seconds": None, "limit": None, "baselines": DEFAULT_BASELINES, "threads": 1,
                "basic_pitch_sets": None}
    for k, d in defaults.items():
        v = getattr(args, k)
        if v != d:
            parts += [f"--{k.replace('_', '-')}", str(v)]
    if args.report:
        parts.append("--report")
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from . import UserError
    from ..data.slakh import DataError
    from ..evaluate.runner import EvalSettings, evaluate_dataset
    from ..evaluate.tables import write_markdown

    baselines = () if args.baselines.strip() == "none" else tuple(
        b.strip() for b in args.baselines.split(",") if b.strip())
    try:
        settings = EvalSettings(sets=_int_list(args.sets, "--sets"), eval_rate=args.eval_rate, seconds=args.seconds,
                                limit=args.limit, baselines=baselines, report=args.report,
                                basic_pitch_sets=(None if args.basic_pitch_sets is None
                                                  else _int_list(args.basic_pitch_sets, "--basic-pitch-sets")))
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.report:
        try:
            from ..report import build_report  # noqa: F401
        except ImportError as e:
            raise UserError(f"--report needs the report module, which cannot be imported ({e})") from None
    # Check the data before loading the model: a wrong folder should fail in a second.
    from ..data.slakh import find_tracks
    from ..evaluate.runner import check_track

    try:
        tracks = find_tracks(args.data)
        for t in tracks[:settings.limit]:
            check_track(t)
    except DataError as e:
        raise UserError(str(e)) from None

    if args.threads < 0:
        raise UserError(f"--threads must be 0 (torch's default) or more, got {args.threads}")
    import torch

    if args.threads:
        # One thread by default: with more OpenMP threads than free cores (a 2-core machine that
        # also trains), every parallel region waits for descheduled threads. Measured on the 2-core
        # CPU under load: 1.2-1.9 s per 30 s mixture with 1 thread, 2.5-21 s with 2.
        torch.set_num_threads(args.threads)

    from ..checkpoint import CheckpointError
    from ..separator import Separator

    try:
        sep = Separator(args.model, device=args.device)
    except (CheckpointError, ValueError) as e:
        raise UserError(str(e)) from None

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr)

    if "basic-pitch" in baselines:
        from ..evaluate.baselines import basic_pitch_status

        status = basic_pitch_status()
        if status != "ok":
            progress(f"basic-pitch baseline: {status}; its rows are left out")
    out = Path(args.out)
    try:
        summary = evaluate_dataset(args.data, sep, settings, out, progress)
    except DataError as e:
        raise UserError(str(e)) from None
    cmd = command_line(args)
    paths = [write_markdown(summary, out / "results.md", sep.class_map, cmd)]
    if args.markdown:
        paths.append(write_markdown(summary, args.markdown, sep.class_map, cmd))
    progress(f"wrote {out / 'summary.json'}, {', '.join(str(p) for p in paths)} "
             f"({summary['n_tracks']} tracks in {summary['seconds']:.0f} s)")
    return 0
