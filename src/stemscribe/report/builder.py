"""Builds the listening report of one separated track: ``report.html`` plus a ``report/`` folder.

Layout written into ``out_dir``:
```
report.html            the page; its CSS, JavaScript and data are inline
report/mixture.mp3     the input (or the sum of the stems when the input was not kept)
report/NN-<class>.mp3  each audible stem
report/NN-<class>-transcription.mp3   each class's notes re-synthesised with FluidSynth
report/remix.mp3       the sum of the re-synthesised parts
```
Nothing is fetched from a network and no server is needed: the page opens from the file system.
Audio is mono MP3 at 22.05 kHz by default (``ReportOptions``), which keeps a 5-minute song's
report to a few megabytes per track (docs/REPORT.md states the measured size).
"""
from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..classes import DRUM_CLASSES, drum_class_of
from ..notes import Note
from . import media
from .page import ClassView, PageContext, TrackView, render_page
from .resynth import NoteRenderer, ResynthesisError

ASSET_DIR = "report"
PAGE_NAME = "report.html"
# One colour per class, in class-map order (Tableau 10: distinct and readable on white).
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#edc948",
           "#76b7b2", "#ff9da7", "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class ReportOptions:
    """How the report's audio is made.

    audio_rate: sample rate (Hz) of every player.
    stereo: keep two channels (otherwise mono, half the size).
    codec: "mp3" (plays everywhere, Safari included) or "ogg" (Vorbis).
    quality: libsndfile compression level, 0 (largest, best) to 1 (smallest); 0.6 gives about
        40 kbit/s for mono music at 22.05 kHz.
    silence_db: a stem whose peak is below this level (dB full scale) and that has no notes is
        shown as "not detected / silent", without a player.
    resynthesis: render the transcriptions with FluidSynth.
    soundfont: the soundfont for re-synthesis; None finds FluidR3_GM.
    max_activity_points: activity curves longer than this are max-pooled for the page.
    max_drawn_notes: per class, only this many notes (the loudest) go into the page, which keeps
        the page light when an untrained model emits notes everywhere; all are re-synthesised.
    """

    audio_rate: int = 22050
    stereo: bool = False
    codec: str = "mp3"
    quality: float = 0.6
    silence_db: float = -60.0
    resynthesis: bool = True
    soundfont: str | None = None
    max_activity_points: int = 4000
    max_drawn_notes: int = 10000


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "class"


def _note_rows(notes: list[Note], is_drum: bool, limit: int | None = None) -> list[list[float]]:
    """Notes as ``[row, start_s, end_s, velocity]`` for the page, in time order.

    The row is the MIDI pitch for pitched classes and the drum-class index for drums (drum notes
    outside the transcribed drum classes are left out, as in evaluation). With ``limit``, only
    the ``limit`` loudest notes are kept.
    """
    if limit is not None and len(notes) > limit:
        notes = sorted(notes, key=lambda n: -n.velocity)[:limit]
    rows = []
    for n in notes:
        key = drum_class_of(n.pitch) if is_drum else int(n.pitch)
        if key is None:
            continue
        rows.append([key, round(float(n.start), 3), round(float(max(n.end, n.start)), 3), int(n.velocity)])
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def _activity_view(activity, max_points: int) -> dict | None:
    """The activity curve for the page: rate (frames/s), probabilities, threshold, segments (s)."""
    if activity is None:
        return None
    prob = np.asarray(activity.probabilities, dtype=np.float32).ravel()
    rate = float(activity.frame_rate)
    if prob.size > max_points:
        # Max-pool so a short burst of activity stays visible when the song is drawn whole.
        k = int(math.ceil(prob.size / max_points))
        prob = np.pad(prob, (0, (-prob.size) % k)).reshape(-1, k).max(axis=1)
        rate /= k
    return {"rate": rate, "prob": [round(float(p), 3) for p in np.clip(prob, 0.0, 1.0)],
            "threshold": float(activity.threshold),
            "segments": [[round(float(a), 3), round(float(b), 3)] for a, b in activity.segments]}


def _check_inputs(result, scores, reference_notes) -> None:
    if not result.stems and result.mixture is None:
        raise ValueError("cannot build a report: the result has neither stems nor a mixture")
    if result.sample_rate <= 0:
        raise ValueError(f"cannot build a report: sample rate {result.sample_rate} Hz is not positive")
    if scores is not None:
        for name, metrics in scores.items():
            if not isinstance(metrics, Mapping):
                raise ValueError(f"scores[{name!r}] must map metric names to numbers, got {type(metrics).__name__}")
    if reference_notes is not None:
        for name, notes in reference_notes.items():
            if any(not isinstance(n, Note) for n in notes):
                raise ValueError(f"reference_notes[{name!r}] must be a list of Note")


def _program_name(program: int, is_drum: bool) -> str:
    if is_drum:
        return "GM standard drum kit"
    import pretty_midi

    return f"GM {program} {pretty_midi.program_to_instrument_name(int(program))}"


def build_report(result, out_dir: str | Path, audio_format: str = "wav",
                 scores: Mapping[str, Mapping[str, float]] | None = None,
                 reference_notes: Mapping[str, list[Note]] | None = None,
                 options: ReportOptions | None = None) -> Path:
    """Write ``report.html`` and its ``report/`` audio folder into ``out_dir``; returns the page's path.

    result: a ``SeparationResult``. audio_format: suffix of the full-quality stems that sit next to
    the page (``<class>.wav``); the page links them when they exist. scores: class (or "overall")
    -> metric name -> value, shown as a table (``stemscribe evaluate --report``). reference_notes:
    class -> notes, drawn outlined in the piano rolls over the estimated notes.
    An existing ``report/`` folder in ``out_dir`` is replaced.
    """
    options = options or ReportOptions()
    if options.codec not in media.FORMATS:
        raise ValueError(f"report codec must be one of {', '.join(media.FORMATS)}, not {options.codec!r}")
    _check_inputs(result, scores, reference_notes)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    assets = out_dir / ASSET_DIR
    if assets.exists():
        shutil.rmtree(assets)
    assets.mkdir()

    sr, rate = int(result.sample_rate), int(options.audio_rate)
    n_in = next(iter(result.stems.values())).shape[-1] if result.stems else np.asarray(result.mixture).shape[-1]
    duration = n_in / sr
    n_out = max(1, int(round(duration * rate)))
    silence = 10.0 ** (options.silence_db / 20.0)
    ext = options.codec

    def prep(audio: np.ndarray) -> np.ndarray:
        return media.prepare(audio, sr, rate, n_out, options.stereo)

    def write(name: str, audio: np.ndarray) -> str:
        media.encode(assets / f"{name}.{ext}", audio, rate, options.quality)
        return f"{ASSET_DIR}/{name}.{ext}"

    mix_is_input = result.mixture is not None
    mixture = np.asarray(result.mixture if mix_is_input else sum(result.stems.values()), dtype=np.float32)
    mix = prep(mixture)
    # One gain for the mixture and every stem keeps their balance; only an input above full
    # scale is turned down.
    gain = min(1.0, 0.99 / max(media.peak(mix), 1e-9))
    tracks: list[TrackView] = [TrackView("mix", "Mixture" if mix_is_input else "Mixture (sum of the stems)",
                                         "mix", None, write("mixture", mix * gain), muted=False)]

    notes = result.notes or {}
    names = [c for c in result.class_map.names if c in result.stems or c in notes or c in result.activity]
    renderer: NoteRenderer | None = None
    synth_note = ""
    if options.resynthesis and any(notes.get(c) for c in names):
        try:
            renderer = NoteRenderer(rate, options.soundfont)
        except ResynthesisError as e:
            synth_note = f"Transcriptions are not re-synthesised: {e}"
    classes: list[ClassView] = []
    synth_parts: list[np.ndarray] = []
    try:
        for i, c in enumerate(names):
            spec = result.class_map[c]
            cls_notes = list(notes.get(c, []))
            stem = result.stems.get(c)
            stem_peak = media.peak(stem) if stem is not None else 0.0
            audible = stem is not None and stem_peak >= silence
            view = ClassView(
                index=i, name=c, color=PALETTE[i % len(PALETTE)], is_drum=spec.is_drum,
                program=_program_name(spec.export_program, spec.is_drum),
                notes=_note_rows(cls_notes, spec.is_drum, options.max_drawn_notes), n_notes=len(cls_notes),
                reference=(_note_rows(list(reference_notes.get(c, [])), spec.is_drum)
                           if reference_notes is not None else None),
                activity=_activity_view(result.activity.get(c), options.max_activity_points),
                peak_db=20.0 * math.log10(stem_peak) if stem_peak > 0 else None,
                detected=audible or bool(cls_notes), has_stem=stem is not None,
                truncated=len(cls_notes) > options.max_drawn_notes)
            full = out_dir / f"{c}.{audio_format}"
            stem_audio = prep(stem) * gain if audible else None
            if stem_audio is not None:
                view.stem_track = TrackView(f"stem-{i}", f"{c} stem", "stem", i,
                                            write(f"{i:02d}-{_slug(c)}", stem_audio),
                                            link=full.name if full.exists() else None)
                tracks.append(view.stem_track)
            if renderer is not None and cls_notes:
                part = renderer.render(cls_notes, spec.export_program, spec.is_drum, n_out)
                # Level-matched to the stem so switching between the two compares notes, not loudness.
                part = media.match_level(part, media.rms(stem_audio)) if stem_audio is not None else media.limit(part)
                synth_parts.append(part)
                view.synth_track = TrackView(f"synth-{i}", f"{c} transcription", "synth", i,
                                             write(f"{i:02d}-{_slug(c)}-transcription", part))
                tracks.append(view.synth_track)
            classes.append(view)
    finally:
        if renderer is not None:
            renderer.close()
    if synth_parts:
        remix = media.limit(np.sum(synth_parts, axis=0))
        tracks.append(TrackView("remix", "Remix of the re-synthesised transcriptions", "remix", None,
                                write("remix", remix)))

    context = PageContext(
        title=result.input_name or out_dir.name, model_name=result.model_name,
        settings=dict(result.settings or {}), duration=duration, sample_rate=sr,
        classes=classes, tracks=tracks, scores=scores, drum_rows=list(DRUM_CLASSES),
        synth_note=synth_note, has_reference=reference_notes is not None)
    page = out_dir / PAGE_NAME
    page.write_text(render_page(context), encoding="utf-8")
    return page
