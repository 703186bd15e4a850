"""`stemscribe benchmark`: whole-job speed and peak memory, next to basic-pitch, on this machine."""
from __future__ import annotations

import argparse
import shlex
import sys

DEFAULT_DURATIONS = "30,180,600"
DEFAULT_OUT = "docs/BENCHMARKS.md"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark", help="speed and memory, side by side with a peer",
        description="Loop a recording to each duration (stereo 44.1 kHz), run the whole job "
                    "(stemscribe separate) and basic-pitch on it, each in a fresh process, and write the "
                    "real-time factor and peak memory with a description of the machine to a markdown page "
                    "(and a JSON file next to it).")
    p.add_argument("--durations", default=DEFAULT_DURATIONS, help=f"seconds of audio (default: {DEFAULT_DURATIONS})")
    p.add_argument("--model", default="default", help="registry name or checkpoint path (default: default)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="device (default: cpu)")
    p.add_argument("--source", default=None, metavar="AUDIO",
                   help="recording to loop (default: examples/example.flac, else a track from stemscribe synth)")
    p.add_argument("--no-peer", action="store_true", help="do not measure basic-pitch")
    p.add_argument("--synth", action="store_true", help="also measure the synthesiser's throughput and alignment")
    p.add_argument("--threads", default="0",
                   help="thread settings to measure, comma-separated OMP_NUM_THREADS values for the measured "
                        "processes; 0 = torch's default (default: 0)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds one run may take (default: 3600)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"markdown page to write (default: {DEFAULT_OUT})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def command_line(args: argparse.Namespace) -> str:
    parts = ["stemscribe", "benchmark"]
    defaults = {"durations": DEFAULT_DURATIONS, "model": "default", "device": "cpu", "source": None,
                "timeout": 3600.0, "out": DEFAULT_OUT, "threads": "0"}
    for k, d in defaults.items():
        if getattr(args, k) != d:
            parts += [f"--{k}", str(getattr(args, k))]
    parts += ["--no-peer"] if args.no_peer else []
    parts += ["--synth"] if args.synth else []
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import UserError
    from ..benchmark import BenchmarkError, BenchmarkSettings, run_benchmark, write_results

    try:
        durations = tuple(float(x) for x in args.durations.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--durations must be comma-separated seconds like 30,180,600, got {args.durations!r}") from None
    try:
        threads = tuple(int(x) for x in args.threads.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--threads must be comma-separated integers like 0,1, got {args.threads!r}") from None
    if args.source is not None and not Path(args.source).is_file():
        raise UserError(f"{args.source}: no such file (--source)")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    from ..hub import registry

    if args.model not in registry() and not Path(args.model).is_file():
        raise UserError(f"unknown model {args.model!r}: not a registry name ({', '.join(sorted(registry()))}) "
                        f"nor a checkpoint file")
    try:
        settings = BenchmarkSettings(durations=durations, model=args.model, device=args.device, source=args.source,
                                     peers=() if args.no_peer else ("basic-pitch",), synth=args.synth,
                                     timeout=args.timeout, threads=threads)
    except ValueError as e:
        raise UserError(str(e)) from None

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr)

    try:
        res = run_benchmark(settings, progress)
    except BenchmarkError as e:
        raise UserError(str(e)) from None
    md, js = write_results(res, args.out, command_line(args))
    failed = [r for r in res["runs"] if not r["ok"]]
    for r in failed:
        print(f"stemscribe benchmark: error: {r['system']} on {r['seconds']:g} s failed: {r['error']}",
              file=sys.stderr)
    progress(f"wrote {md} and {js}")
    return 1 if failed else 0
