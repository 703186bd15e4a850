"""The listening report: builder, re-synthesis, the page's content, and the page in headless Chromium.

The browser test drives Debian's chromium through the Chrome DevTools Protocol over
``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated JSON): no extra package and
no network port. It is skipped only when no Chromium is installed (``scripts/setup.sh`` installs it).
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemscribe.classes import DEFAULT_CLASSES
from stemscribe.notes import Note
from stemscribe.report import NoteRenderer, ReportOptions, build_report
from stemscribe.report.page import SILENT_TEXT
from stemscribe.results import Activity, SeparationResult, segments_from_probabilities

FRAME_RATE = 50.0


# ---------------------------------------------------------------- hand-made results

def _tone(notes: list[Note], sr: int, n: int, drum: bool) -> np.ndarray:
    out = np.zeros(n, np.float32)
    rng = np.random.default_rng(0)
    for note in notes:
        a, b = int(note.start * sr), min(n, int(note.end * sr))
        t = np.arange(b - a) / sr
        if drum:
            sig = rng.standard_normal(b - a) * np.exp(-t * 30)
        else:
            sig = np.sin(2 * np.pi * 440.0 * 2 ** ((note.pitch - 69) / 12) * t) * np.exp(-t * 2)
        out[a:b] += 0.2 * (note.velocity / 127) * sig.astype(np.float32)
    return out


def make_result(seconds: float = 8.0, sr: int = 22050, silent: tuple[str, ...] = ("guitar",),
                channels: int = 2, mixture: bool = True) -> SeparationResult:
    """A result whose stems are the audio of its notes; classes in ``silent`` have no audio and no notes."""
    n, frames = int(seconds * sr), int(seconds * FRAME_RATE)
    beats = np.arange(0.0, seconds - 0.5, 0.5)
    notes = {
        "piano": [Note(60 + (0, 4, 7, 12)[i % 4], t, t + 0.45, 70 + (i % 5) * 10) for i, t in enumerate(beats)],
        "guitar": [Note(52, t, t + 0.4, 80) for t in beats[::4]],
        "bass": [Note(36 + (0, 5, 7, 0)[i % 4], t, t + 0.9, 90) for i, t in enumerate(beats[::2])],
        "drums": [Note((36, 42, 38, 42)[i % 4], t, t + 0.1, 100) for i, t in enumerate(beats)],
        "strings": [Note(67, 2.0, 6.0, 60), Note(72, 2.0, 6.0, 60)],
        "other": [Note(84, t, t + 0.2, 50) for t in np.arange(seconds / 2, seconds - 1, 1.0)],
    }
    for c in silent:
        notes[c] = []
    stems, activity = {}, {}
    for c in DEFAULT_CLASSES.names:
        mono = _tone(notes[c], sr, n, c == "drums")
        stems[c] = np.repeat(mono[None], channels, axis=0)
        prob = np.zeros(frames, np.float32)
        for note in notes[c]:
            prob[int(note.start * FRAME_RATE):int(note.end * FRAME_RATE) + 5] = 0.9
        activity[c] = Activity(FRAME_RATE, prob, segments_from_probabilities(prob, FRAME_RATE))
    return SeparationResult(
        sample_rate=sr, stems=stems, notes=notes, activity=activity, class_map=DEFAULT_CLASSES,
        frame_rate=FRAME_RATE, mixture=sum(stems.values()) if mixture else None, model_name="hand-made",
        settings={"device": "cpu", "chunk_seconds": 10.0, "source": "https://example.org/model.pt"},
        input_name="hand made <song>")


SCORES = {"piano": {"SI-SDR": 7.123, "onset F1": 0.81},
          "bass": {"SI-SDR": 10.5, "onset F1": 0.9, "onset+offset F1": 0.7},
          "overall": {"SI-SDR": 8.1, "onset F1": 0.85}}


def reference_for(result: SeparationResult) -> dict[str, list[Note]]:
    """Reference notes: half the piano notes shifted by 30 ms, the bass exactly, the drums but one."""
    return {"piano": [Note(n.pitch, n.start + 0.03, n.end, 80) for n in result.notes["piano"][::2]],
            "bass": list(result.notes["bass"]), "drums": result.notes["drums"][1:]}


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """A report of the hand-made result with scores and reference notes (built once per module)."""
    out = tmp_path_factory.mktemp("report")
    r = make_result()
    build_report(r, out, scores=SCORES, reference_notes=reference_for(r))
    return out


# ---------------------------------------------------------------- tests of the builder

def test_layout_players_and_lengths(report_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<audio data-track="[^"]+" data-muted="[01]" preload="auto" src="([^"]+)"', html)
    files = sorted(p.name for p in (report_dir / "report").iterdir())
    # mixture, 5 stems, 5 transcriptions (guitar is silent), remix
    assert len(srcs) == len(files) == 12
    assert sorted(Path(s).name for s in srcs) == files and all(s.startswith("report/") for s in srcs)
    for name in files:
        info = sf.info(str(report_dir / "report" / name))
        assert info.samplerate == 22050 and info.channels == 1
        assert abs(info.duration - 8.0) < 0.1, name
    assert 'data-track="mix" data-muted="0"' in html   # the mixture is what plays first
    data = page_data(html)
    assert [c["name"] for c in data["classes"]] == list(DEFAULT_CLASSES.names)
    assert data["duration"] == pytest.approx(8.0)
    piano = data["classes"][0]
    assert len(piano["notes"]) == 15 and piano["notes"][0] == [60, 0.0, 0.45, 70]
    assert data["classes"][3]["notes"][0][0] == 0   # drum notes are drawn on drum-class rows (kick)
    assert len(data["classes"][0]["activity"]["prob"]) == 400


def test_silent_instrument_says_so(report_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    guitar = re.search(r'<tr class="track silent-row">.*?</tr>', html).group(0)
    assert "guitar" in guitar and SILENT_TEXT in guitar and "<audio" not in guitar
    lane = re.search(r'<section class="lane not-detected" data-class="1".*?</section>', html).group(0)
    assert SILENT_TEXT in lane and "<canvas" not in lane
    assert not list((report_dir / "report").glob("*guitar*"))
    assert "1 of 6" not in html and "5 of 6 instruments detected" in html


def test_no_network_references(report_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", html, re.I)
    assert "://" not in html                     # not even in the settings' text (escaped there)
    assert "example.org/model.pt" in html        # ... which still shows the setting
    assert not re.search(r"<link\b|@import|url\(", html)
    for src in re.findall(r'\ssrc="([^"]*)"', html):
        assert (report_dir / src).is_file()
    assert "&lt;song&gt;" in html                # names are escaped


def test_scores_and_reference_notes(report_dir):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    table = re.search(r'<table class="scores">.*?</table>', html).group(0)
    assert "onset+offset F1" in table and "7.123" in table and "10.5" in table and "0.700" in table
    assert table.index(">piano<") < table.index(">bass<") < table.index(">overall<")
    data = page_data(html)
    piano, bass, drums, strings = (data["classes"][i] for i in (0, 2, 3, 4))
    assert len(piano["reference"]) == 8 and piano["reference"][0][1] == pytest.approx(0.03)
    assert bass["reference"] == bass["notes"] and len(drums["reference"]) == 14
    assert strings["reference"] == []
    assert "outlined bars: reference notes" in html


def test_report_without_scores_mixture_or_activity(tmp_path):
    r = make_result(seconds=3.0, silent=(), channels=1, mixture=False)
    r.activity = {}
    page = build_report(r, tmp_path, options=ReportOptions(resynthesis=False, codec="ogg"))
    html = page.read_text(encoding="utf-8")
    assert "Mixture (sum of the stems)" in html and 'id="scores"' not in html
    assert "outlined" not in html and '<canvas class="act"' not in html
    assert html.count('<canvas class="roll"') == 6
    assert sorted(p.suffix for p in (tmp_path / "report").iterdir()) == [".ogg"] * 7
    assert html.count("not re-synthesised") == 6


def test_many_notes_are_thinned_for_the_page(tmp_path):
    r = make_result(seconds=6.0)
    html = build_report(r, tmp_path, options=ReportOptions(max_drawn_notes=2, resynthesis=False)).read_text()
    piano = page_data(html)["classes"][0]["notes"]
    assert [n[3] for n in piano] == [110, 110] and piano[0][1] < piano[1][1]   # the loudest, in time order
    assert "11 notes (2 loudest drawn)" in html and "2 notes (" not in html


def test_save_writes_report_beside_stems_and_links_them(tmp_path):
    r = make_result(seconds=2.0)
    written = r.save(tmp_path / "song", report=True)
    names = {p.name for p in written}
    assert {"report.html", "report", "piano.wav", "activity.json"} <= names
    html = (tmp_path / "song" / "report.html").read_text(encoding="utf-8")
    assert '<a href="piano.wav">' in html and '<a href="guitar.wav">' not in html
    assert [p.name for p in tmp_path.iterdir()] == ["song"]   # no temporary folder left


def test_rebuild_replaces_the_report_folder(tmp_path):
    build_report(make_result(seconds=2.0), tmp_path)
    (tmp_path / "report" / "stale.mp3").write_bytes(b"old")
    build_report(make_result(seconds=2.0, silent=("guitar", "piano")), tmp_path)
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert "stale.mp3" not in names and not any("piano" in n for n in names)


def test_bad_arguments_are_refused(tmp_path):
    r = make_result(seconds=1.0)
    with pytest.raises(ValueError, match="codec"):
        build_report(r, tmp_path, options=ReportOptions(codec="aac"))
    with pytest.raises(ValueError, match="scores"):
        build_report(r, tmp_path, scores={"piano": 0.5})
    with pytest.raises(ValueError, match="reference_notes"):
        build_report(r, tmp_path, reference_notes={"piano": [(60, 0.0, 1.0, 80)]})


def test_resynthesis_uses_the_class_program():
    sr = 22050
    notes = [Note(60, 0.1, 0.6, 100), Note(64, 0.1, 0.6, 100)]
    with NoteRenderer(sr) as r:
        piano = r.render(notes, 0, False, sr)
        organ = r.render(notes, 19, False, sr)
        drums = r.render([Note(38, 0.2, 0.3, 110)], 0, True, sr)
        empty = r.render([], 0, False, sr)
    assert piano.shape == (sr,) and piano.dtype == np.float32
    assert np.abs(piano[:int(0.09 * sr)]).max() < 1e-4 < np.abs(piano[int(0.1 * sr):int(0.3 * sr)]).max()
    assert not np.allclose(piano, organ, atol=1e-3)
    assert np.abs(drums[:int(0.19 * sr)]).max() < 1e-4 < np.abs(drums).max()
    assert not empty.any()


def test_report_of_the_tiny_model(tmp_path):
    separator = pytest.importorskip("stemscribe.separator")
    x = (0.1 * np.random.default_rng(3).standard_normal((2, 44100 * 2))).astype(np.float32)
    result = separator.Separator("tiny-test", device="cpu").separate(x, 44100)
    html = build_report(result, tmp_path).read_text(encoding="utf-8")
    data = page_data(html)
    assert [c["name"] for c in data["classes"]] == list(result.stems)
    assert "tiny-test" in html and not re.search(r"https?://", html)
    assert len(re.findall(r"<audio ", html)) == len(list((tmp_path / "report").iterdir()))

# ---------------------------------------------------------------- headless Chromium

# The machine's closed network refuses Chromium's background connections; these flags stop them.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--hide-scrollbars"]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Headless Chromium with one page; ``send`` runs a CDP command on that page."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="stemscribe-chromium-")
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()

        def child_fds() -> None:
            # Move both ends above 10 first so the dup2 to 3 and 4 cannot clobber either.
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=child_fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = os.fdopen(out_r, "rb", buffering=0)
        self._replies: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self._id = 0
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 page=False)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = self._in.read(1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                (self._replies.put if "id" in msg else self.events.append)(msg)

    def send(self, method: str, params: dict | None = None, page: bool = True, timeout: float = 30.0) -> dict:
        """Run one CDP command (on the page unless ``page`` is False) and return its result."""
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params or {}}
        if page:
            msg["sessionId"] = self.session
        self._out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._replies.get(timeout=max(0.01, deadline - time.monotonic()))
            if reply["id"] == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, path: Path, timeout: float = 20.0) -> None:
        """Navigate to a local file and wait for its load event."""
        start = len(self.events)
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events[start:]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not finish loading in {timeout} s")
            time.sleep(0.05)

    def evaluate(self, expression: str, timeout: float = 30.0):
        """Value of a JavaScript expression (promises are awaited); raises on a thrown exception."""
        r = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                           "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails"))[:500])
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page (beyond the window's height)."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        """Quit Chromium and remove its profile."""
        try:
            self.send("Browser.close", page=False, timeout=5)
        except Exception:  # noqa: BLE001 - the browser may already be gone; it is killed below
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.profile, ignore_errors=True)


CHECK_PAGE = """(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const audio = [...document.querySelectorAll("audio")];
  const t0 = performance.now();
  while (audio.some((e) => e.readyState < 1 && !e.error) && performance.now() - t0 < 15000) { await sleep(50); }
  const rolls = [...document.querySelectorAll("canvas.roll")].map((c) => {
    const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let coloured = 0;   // saturated pixels: notes (the background and grid are grey)
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 40) { coloured++; }
    }
    return { cls: c.dataset["class"], width: c.width, height: c.height, coloured: coloured };
  });
  return { audio: audio.map((e) => ({ id: e.dataset.track, ready: e.readyState, error: e.error && e.error.code,
                                      duration: e.duration, muted: e.muted })),
           rolls: rolls, acts: document.querySelectorAll("canvas.act").length,
           silent: [...document.querySelectorAll(".lane.not-detected h3")].map((h) => h.textContent) };
})()"""

PLAY_SOLO = """(async () => {
  const R = window.stemscribeReport, sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  document.querySelector('button[data-solo="stem-2"]').click();
  document.querySelector('button[data-solo="mix"]').click();
  const audible = R.tracks.filter((t) => !t.el.muted).map((t) => t.id);
  R.seek(1.0);
  document.getElementById("play").click();
  await sleep(1200);
  const times = R.tracks.map((t) => t.el.currentTime);
  document.getElementById("play").click();
  return { audible: audible, min: Math.min(...times), max: Math.max(...times),
           paused: R.tracks.every((t) => t.el.paused), clock: document.getElementById("time").textContent };
})()"""


@pytest.mark.browser
def test_report_in_headless_chromium(report_dir, tmp_path):
    exe = find_chromium()
    if exe is None:
        pytest.skip("no chromium on PATH; scripts/setup.sh installs it (apt-get install chromium)")
    browser = Browser(exe)
    try:
        browser.open(report_dir / "report.html")
        state = browser.evaluate(CHECK_PAGE)
        played = browser.evaluate(PLAY_SOLO)
        browser.screenshot(tmp_path / "report.png")
        errors = browser.errors()
    finally:
        browser.close()
    assert errors == []
    assert len(state["audio"]) == 12
    for a in state["audio"]:
        assert a["ready"] >= 1 and a["error"] is None and a["duration"] == pytest.approx(8.0, abs=0.1), a
    assert [a["id"] for a in state["audio"] if not a["muted"]] == ["mix"]
    data = page_data((report_dir / "report.html").read_text(encoding="utf-8"))
    drawn = [c for c in data["classes"] if c["notes"]]
    assert len(state["rolls"]) == len(drawn) == 5 and state["acts"] == 5
    for roll in state["rolls"]:
        assert roll["width"] > 600 and roll["coloured"] > 100, roll
    assert state["silent"] == ["guitar"]
    assert sorted(played["audible"]) == ["mix", "stem-2"]
    assert played["min"] > 1.3 and played["max"] - played["min"] < 0.15 and played["paused"], played
    assert (tmp_path / "report.png").stat().st_size > 20000
