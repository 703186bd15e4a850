"""`stemscribe benchmark`: the machinery runs on a very short duration and writes its files (no timing checks)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from stemscribe.benchmark import make_test_audio, markdown, measure
from stemscribe.cli import main


def _source(tmp_path: Path) -> Path:
    sr = 22050
    t = np.arange(int(0.7 * sr)) / sr
    path = tmp_path / "src.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def test_make_test_audio_loops_to_stereo_44k(tmp_path: Path):
    out = make_test_audio(_source(tmp_path), 2.0, tmp_path / "b.flac")
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 88200)


def test_measure_is_per_process(tmp_path: Path):
    # This test process has imported torch (hundreds of MB); a bare child must not inherit that peak.
    small = measure([sys.executable, "-c", "pass"], 1.0)
    big = measure([sys.executable, "-c", "x = b'1' * (300 * 2**20)"], 1.0)
    assert small["ok"] and big["ok"]
    assert small["peak_rss_mb"] < 100 < 300 < big["peak_rss_mb"]
    failed = measure([sys.executable, "-c", "import sys; sys.exit('boom')"], 1.0)
    assert not failed["ok"] and "boom" in failed["error"] and failed["rtf"] is None


def test_benchmark_cli_writes_page_and_json(tmp_path: Path):
    out = tmp_path / "docs" / "BENCH.md"
    rc = main(["benchmark", "--durations", "1", "--model", "tiny-test", "--source", str(_source(tmp_path)),
               "--no-peer", "--threads", "0,1", "--out", str(out), "-q"])
    assert rc == 0
    res = json.loads(out.with_suffix(".json").read_text())
    assert [(r["system"], r["seconds"], r["threads_set"], r["ok"]) for r in res["runs"]] == [
        ("stemscribe", 1.0, False, True), ("stemscribe", 1.0, True, True)]
    assert res["machine"]["logical_cores"] >= 1 and res["machine"]["torch"]
    text = out.read_text()
    assert "## Machine" in text and "| 1 s | stemscribe | 1 thread |" in text and "## Targets" in text
    assert "| 1 s | stemscribe | default (" in text


def test_markdown_reports_failures_and_synth():
    res = {"machine": {"cpu": "x", "logical_cores": 2, "usable_cores": 2, "ram_gib": 1.0, "gpu": None,
                       "torch": "2", "torch_threads": 2, "python": "3", "os": "L", "load_average_1m": 0.1},
           "settings": {"model": "m", "device": "cpu", "threads": [0]}, "source": "s", "started": "a", "finished": "b",
           "peers": {"basic-pitch": "not installed (basic_pitch)"},
           "runs": [{"system": "stemscribe", "seconds": 180.0, "threads": 2, "threads_set": False, "ok": False, "error": "boom", "wall_s": 1.0,
                     "rtf": None, "peak_rss_mb": 1.0, "cpu_s": 1.0, "load_average_1m": 0.1}],
           "synth": {"throughput": {"realtime_factor_cpu": 55.0}, "alignment": {"max_ms": 3.2}}}
    text = markdown(res)
    assert "failed: boom" in text and "basic-pitch: not installed" in text
    assert "| synth >= 40x real time per core | 55.0 | yes |" in text
    assert "| synth alignment <= 10 ms | 3.20 | yes |" in text


def test_benchmark_bad_input(tmp_path: Path, capsys):
    assert main(["benchmark", "--source", str(tmp_path / "none.flac"), "--out", str(tmp_path / "b.md")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["benchmark", "--model", "no-such-model", "--out", str(tmp_path / "b.md")]) == 1
    assert "no-such-model" in capsys.readouterr().err
    assert main(["benchmark", "--durations", "30,x", "--out", str(tmp_path / "b.md")]) == 1
    assert "--durations" in capsys.readouterr().err
    assert not (tmp_path / "b.md").exists()
