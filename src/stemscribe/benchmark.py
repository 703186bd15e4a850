"""Speed and memory of the whole job, next to a peer, on the machine at hand (``stemscribe benchmark``).

Each measurement runs one command in a fresh process (``python -m stemscribe separate ...``, and
the peer's ``python -m basic_pitch.predict ...`` on the same file), started by a bare launcher that
waits for it with ``os.wait4``, which returns that process's own resource usage: numbers of
different runs never mix.

- wall time: from spawning the child to its exit; the whole job (interpreter start, imports,
  model load, audio decode, separation, transcription, writing every output);
- real-time factor: seconds of audio per second of wall time (higher is faster);
- peak memory: the child's peak resident set size (``ru_maxrss``);
- CPU time: user + system seconds of the child (CPU time / wall time = cores kept busy).

The test audio is made by the command: a source recording (``--source``, else the bundled example
song, else a track rendered by ``stemscribe synth``) converted to stereo 44.1 kHz and looped to each
duration. Other load on the machine changes the numbers, so the load average is recorded with each.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

PEERS = ("basic-pitch",)

# The targets of the project's issue, printed next to the measurements.
TARGET_RTF = 20.0            # whole job, x real time, for a 3-minute song on the 2-core CPU
TARGET_RTF_SECONDS = 180.0
TARGET_PEAK_MB = 2000.0      # peak RSS for a 10-minute stereo 44.1 kHz song (2 GB, MB = 10^6 bytes)
TARGET_PEAK_SECONDS = 600.0
TARGET_SYNTH_RTF_PER_CORE = 40.0
TARGET_ALIGNMENT_MS = 10.0

BENCH_RATE = 44100
BENCH_CHANNELS = 2


class BenchmarkError(RuntimeError):
    """The benchmark cannot run (no source audio, a failed child); one sentence."""


@dataclass
class BenchmarkSettings:
    """durations: seconds of audio per measurement. model/device: as for ``separate``.
    source: recording looped into the test audio (None: the bundled example, else a synth render).
    peers: other programs measured on the same files ("basic-pitch").
    synth: also run ``stemscribe.synth.benchmark`` (throughput and alignment).
    timeout: seconds a single child may run before it is stopped and reported as failed.
    threads: thread settings to measure, each as OMP_NUM_THREADS of the measured processes
        (torch's CPU threads); 0 leaves torch's default (one per core). Every duration is measured
        once per setting.
    """

    durations: tuple[float, ...] = (30.0, 180.0, 600.0)
    model: str = "default"
    device: str = "cpu"
    source: str | None = None
    peers: tuple[str, ...] = PEERS
    synth: bool = False
    timeout: float = 3600.0
    threads: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        self.threads = tuple(int(t) for t in self.threads)
        if not self.threads or any(t < 0 for t in self.threads):
            raise ValueError(f"threads must be 0 (torch's default) or more, got {list(self.threads)}")
        self.durations = tuple(float(d) for d in self.durations)
        self.peers = tuple(self.peers)
        if not self.durations or any(d <= 0 for d in self.durations):
            raise ValueError(f"durations must be positive seconds, got {self.durations}")
        bad = [p for p in self.peers if p not in PEERS]
        if bad:
            raise ValueError(f"unknown peer {', '.join(bad)}; choose from {', '.join(PEERS)}")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info(device: str = "cpu") -> dict:
    """CPU model, cores (logical, usable by this process), RAM, torch version and threads, GPU, load."""
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if (device != "cpu" and torch.cuda.is_available()) else None
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "ram_gib": round(mem_kb / 2**20, 1), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "gpu": gpu, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def find_example() -> Path | None:
    """The bundled example song (repository checkout or installed package), if present."""
    here = Path(__file__).resolve().parent
    for p in (here.parent.parent / "examples" / "example.flac", here / "examples" / "example.flac"):
        if p.is_file():
            return p
    return None


def render_synth_source(out_dir: Path, seconds: float = 30.0, seed: int = 0) -> Path:
    """Render one test-split track with ``stemscribe synth`` and return its mix."""
    cmd = [sys.executable, "-m", "stemscribe", "synth", "--out", str(out_dir), "--split", "test", "--tracks", "1",
           "--seed", str(seed), "--track-seconds", str(seconds), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    mixes = sorted(out_dir.rglob("mix.flac"))
    if r.returncode != 0 or not mixes:
        raise BenchmarkError(f"no source audio: no examples/example.flac and 'stemscribe synth' failed "
                             f"({(r.stderr or r.stdout).strip()[-200:]}); pass --source AUDIO")
    return mixes[0]


def make_test_audio(source: str | Path, seconds: float, path: str | Path) -> Path:
    """Write ``source`` as stereo 44.1 kHz FLAC, looped (or cut) to ``seconds``; returns ``path``."""
    from .audio import load_audio, resample, save_audio

    audio, sr = load_audio(source)
    audio = resample(audio, sr, BENCH_RATE)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, BENCH_CHANNELS, axis=0)
    audio = audio[:BENCH_CHANNELS]
    n = int(round(seconds * BENCH_RATE))
    reps = -(-n // audio.shape[1])
    save_audio(path, np.tile(audio, (1, reps))[:, :n], BENCH_RATE, subtype="PCM_24")
    return Path(path)


# The measured command is started by this small launcher, not by the benchmark process itself:
# Linux carries the parent's peak RSS into a forked child's ru_maxrss (the pre-exec memory counts),
# so a child of the benchmark process (which has imported torch) would inherit its ~400 MB. The
# launcher is a bare interpreter (about 10 MB), a floor well below any real measurement.
_LAUNCHER = """
import json, os, sys, time
cmd, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
t0 = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    if time.perf_counter() - t0 > timeout:
        os.kill(pid, 9)
        done, status, usage = os.wait4(pid, 0)
        break
    time.sleep(0.01)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "code": os.waitstatus_to_exitcode(status),
                  "maxrss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


def measure(cmd: list[str], audio_seconds: float, timeout: float = 3600.0, env: dict | None = None) -> dict:
    """Run ``cmd`` in a fresh process; its wall time, real-time factor, peak RSS and CPU time.

    Returns ``{"ok", "wall_s", "rtf", "peak_rss_mb", "cpu_s", "load_average_1m", "error"}``;
    the command's output is discarded except the last lines of stderr on failure. ``env``: the
    command's environment (default: this process's).
    """
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryFile() as err:
        r = subprocess.run([sys.executable, "-c", _LAUNCHER, json.dumps(cmd), str(timeout)],
                           stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
    try:
        m = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise BenchmarkError(f"the measuring process failed ({' | '.join(tail) or r.returncode})") from None
    ok = m["code"] == 0
    error = None
    if not ok:
        error = "timed out" if m["wall_s"] > timeout else (" | ".join(tail) or f"exit status {m['code']}")
    return {"ok": ok, "wall_s": round(m["wall_s"], 3), "rtf": round(audio_seconds / m["wall_s"], 2) if ok else None,
            # Linux reports ru_maxrss in KiB; MB here are 10^6 bytes, as in the "2 GB" target.
            "peak_rss_mb": round(m["maxrss_kb"] * 1024 / 1e6, 1), "cpu_s": round(m["cpu_s"], 2),
            "load_average_1m": load, "error": error}


def stemscribe_command(audio: Path, out_dir: Path, model: str, device: str) -> list[str]:
    return [sys.executable, "-m", "stemscribe", "separate", str(audio), "-o", str(out_dir), "--model", model,
            "--device", device, "--overwrite", "--quiet"]


def basic_pitch_command(audio: Path, out_dir: Path) -> list[str]:
    # basic-pitch's own command line (its console script's module), writing one MIDI file.
    return [sys.executable, "-m", "basic_pitch.predict", str(out_dir), str(audio)]


def run_benchmark(settings: BenchmarkSettings, progress: Callable[[str], None] | None = None) -> dict:
    """Measure stemscribe (and the peers) on each duration; returns the results dict (see ``markdown``)."""
    say = progress or (lambda line: None)
    peers = {}
    if "basic-pitch" in settings.peers:
        from .evaluate.baselines import basic_pitch_status

        peers["basic-pitch"] = basic_pitch_status()
    out = {"machine": machine_info(settings.device), "settings": asdict(settings), "runs": [],
           "peers": peers, "targets": targets(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    default_threads = out["machine"]["torch_threads"]
    with tempfile.TemporaryDirectory(prefix="stemscribe-bench-") as tmp:
        tmp = Path(tmp)
        if settings.source:
            source, source_label = Path(settings.source), str(settings.source)
        elif find_example() is not None:
            source, source_label = find_example(), "examples/example.flac"
        else:
            say("no examples/example.flac: rendering a 30 s test-split track with stemscribe synth")
            source, source_label = render_synth_source(tmp / "synth"), "a 30 s track rendered by stemscribe synth"
        out["source"] = source_label
        for d in settings.durations:
            audio = make_test_audio(source, d, tmp / f"bench_{d:g}s.flac")
            for t in settings.threads:
                env = {**os.environ, "OMP_NUM_THREADS": str(t)} if t else None
                threads = {"threads": t or default_threads, "threads_set": bool(t)}
                say(f"{d:g} s: stemscribe ({settings.model}, {settings.device}, {t or 'default'} threads)")
                r = measure(stemscribe_command(audio, tmp / "out", settings.model, settings.device), d,
                            settings.timeout, env)
                out["runs"].append({"system": "stemscribe", "seconds": d, **threads, **r})
                if peers.get("basic-pitch") == "ok":
                    say(f"{d:g} s: basic-pitch ({t or 'default'} threads)")
                    (tmp / "bp").mkdir(exist_ok=True)
                    r = measure(basic_pitch_command(audio, tmp / "bp"), d, settings.timeout, env)
                    out["runs"].append({"system": "basic-pitch", "seconds": d, **threads, **r})
                    for f in (tmp / "bp").iterdir():
                        f.unlink()  # basic-pitch refuses to overwrite its MIDI file
            audio.unlink()
    if settings.synth:
        out["synth"] = synth_numbers(say)
    out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return out


def synth_numbers(say: Callable[[str], None] = lambda line: None) -> dict:
    """Throughput and alignment of the synthesiser (``stemscribe.synth.benchmark``), or why not."""
    try:
        from .synth.benchmark import alignment_check, throughput_benchmark
    except ImportError as e:
        return {"error": f"stemscribe.synth.benchmark is not available ({e})"}
    out = {}
    for name, fn in (("throughput", throughput_benchmark), ("alignment", alignment_check)):
        say(f"synth: {name}")
        try:
            out[name] = fn()
        except Exception as e:  # a failing synth check is reported, not fatal to the speed numbers
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    return out


def targets() -> dict:
    return {"whole_job_rtf": {"min": TARGET_RTF, "at_seconds": TARGET_RTF_SECONDS},
            "peak_rss_mb": {"max": TARGET_PEAK_MB, "at_seconds": TARGET_PEAK_SECONDS},
            "synth_rtf_per_core": {"min": TARGET_SYNTH_RTF_PER_CORE},
            "alignment_ms": {"max": TARGET_ALIGNMENT_MS}}


def _fmt(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for k, v in d.items():
        if isinstance(v, dict):
            rows += _flatten(v, f"{prefix}{k}.")
        elif not isinstance(v, (list, tuple)) or len(v) <= 8:
            rows.append((f"{prefix}{k}", v))
    return rows


def _number(d: dict, key: str) -> float | None:
    v = d.get(key) if isinstance(d, dict) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _threads_label(run: dict) -> str:
    if "threads" not in run:
        return "?"
    n = run["threads"]
    return f"{n} thread{'' if n == 1 else 's'}" if run.get("threads_set") else f"default ({n} threads)"


def markdown(res: dict, command: str | None = None) -> str:
    """docs/BENCHMARKS.md: machine, one row per run, the targets and whether each is met."""
    m = res["machine"]
    lines = ["# stemscribe benchmarks", ""]
    if command:
        lines += [f"Generated by `{command}` ({res['started']} to {res['finished']}); the same numbers are in "
                  "the JSON file next to this page.", ""]
    lines += ["## Machine", "",
              f"- CPU: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable by the job)",
              f"- RAM: {m['ram_gib']} GiB; GPU: {m['gpu'] or 'none used'}",
              f"- torch {m['torch']} (its default: {m['torch_threads']} threads); Python {m['python']}; {m['os']}",
              f"- load average when the run started: {m['load_average_1m']} (other work on the machine slows every "
              "number below; each run's own load average is in its row)", "",
              f"Test audio: {res['source']}, stereo {BENCH_RATE} Hz FLAC, looped to each duration. "
              f"Model `{res['settings']['model']}` on `{res['settings']['device']}`.", "",
              "## Whole job: load, separate, transcribe, write outputs", "",
              "| audio | system | torch threads | wall time (s) | real-time factor (x) | peak RSS (MB) | CPU time (s) "
              "| load avg |",
              "|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        th = _threads_label(r)
        if r["ok"]:
            lines.append(f"| {r['seconds']:g} s | {r['system']} | {th} | {r['wall_s']:.1f} | {_fmt(r['rtf'], '.1f')} | "
                         f"{r['peak_rss_mb']:.0f} | {r['cpu_s']:.1f} | {_fmt(r['load_average_1m'], '.2f')} |")
        else:
            lines.append(f"| {r['seconds']:g} s | {r['system']} | {th} | failed: {r['error']} | | | | |")
    for peer, status in res.get("peers", {}).items():
        if status != "ok":
            lines += ["", f"{peer}: {status}."]
    lines += ["", "Real-time factor = seconds of audio per second of wall time. stemscribe runs as "
              "`python -m stemscribe separate FILE -o OUT --model M --device D` and basic-pitch as "
              "`python -m basic_pitch.predict OUT FILE` (its own command line); each in a fresh process whose "
              "peak RSS comes from `wait4` (MB = 10^6 bytes). Threads: OMP_NUM_THREADS of the process (torch's intra-op threads; "
              "\"default\" = torch's own choice; onnxruntime, under basic-pitch, picks its own). HT-Demucs, for comparison, needs about 1.5x the track's length "
              "on a CPU (real-time factor about 0.7; not measured here).", "",
              "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    ours = [r for r in res["runs"] if r["system"] == "stemscribe" and r["ok"]]

    def nearest(sec: float, key: Callable[[dict], float], best: Callable) -> dict | None:
        # The run closest to the target length; among thread settings, the best one.
        if not ours:
            return None
        d = min((r["seconds"] for r in ours), key=lambda x: abs(x - sec))
        return best((r for r in ours if r["seconds"] == d), key=key)

    r = nearest(TARGET_RTF_SECONDS, lambda r: r["rtf"], max)
    if r is not None:
        lines.append(f"| whole job >= {TARGET_RTF:g}x real time, {TARGET_RTF_SECONDS / 60:g}-minute song | "
                     f"{r['rtf']:.1f}x at {r['seconds']:g} s, {_threads_label(r)} | "
                     f"{'yes' if r['rtf'] >= TARGET_RTF else 'no'}"
                     f"{'' if r['seconds'] == TARGET_RTF_SECONDS else ' (not measured at the target length)'} |")
    r = nearest(TARGET_PEAK_SECONDS, lambda r: r["peak_rss_mb"], min)
    if r is not None:
        lines.append(f"| peak memory < {TARGET_PEAK_MB / 1000:g} GB, {TARGET_PEAK_SECONDS / 60:g}-minute stereo "
                     f"44.1 kHz song | {r['peak_rss_mb']:.0f} MB at {r['seconds']:g} s, {_threads_label(r)} | "
                     f"{'yes' if r['peak_rss_mb'] < TARGET_PEAK_MB else 'no'}"
                     f"{'' if r['seconds'] == TARGET_PEAK_SECONDS else ' (not measured at the target length)'} |")
    if "synth" in res:
        s = res["synth"]
        # Keys of stemscribe.synth.benchmark: song seconds per CPU second (one core), worst onset error.
        rtf = _number(s.get("throughput", {}), "realtime_factor_cpu")
        al = _number(s.get("alignment", {}), "max_ms")
        lines.append(f"| synth >= {TARGET_SYNTH_RTF_PER_CORE:g}x real time per core | {_fmt(rtf, '.1f')} | "
                     f"{'–' if rtf is None else ('yes' if rtf >= TARGET_SYNTH_RTF_PER_CORE else 'no')} |")
        lines.append(f"| synth alignment <= {TARGET_ALIGNMENT_MS:g} ms | {_fmt(al, '.2f')} | "
                     f"{'–' if al is None else ('yes' if al <= TARGET_ALIGNMENT_MS else 'no')} |")
        lines += ["", "## Synthesiser (stemscribe.synth.benchmark)", "", "| measurement | value |", "|---|---|"]
        for part in ("throughput", "alignment", "error"):
            if part in s:
                v = s[part]
                for k, x in (_flatten(v) if isinstance(v, dict) else [("", v)]):
                    lines.append(f"| {part}{'.' + k if k else ''} | {x} |")
    return "\n".join(lines) + "\n"


def write_results(res: dict, path: str | Path, command: str | None = None) -> tuple[Path, Path]:
    """Write the markdown page to ``path`` and the JSON next to it (same name, .json)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(res, command))
    js = path.with_suffix(".json")
    js.write_text(json.dumps(res, indent=1, default=str))
    return path, js
