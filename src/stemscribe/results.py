"""What a separation returns, and how it is written to disk (NumPy only, no torch).

Layout written by ``SeparationResult.save(out_dir)`` (DESIGN.md, "Command line"):
```
out_dir/
  <class>.wav|flac   one stem per class, at the input's rate, channel count and length
  <class>.mid        one MIDI per class
  transcription.mid  all classes, one track each, GM programs, drums on channel 10
  activity.json      per class: frame rate, probabilities, active segments in seconds
  report.html        with report=True (plus report/ assets)
```
Files are written to a temporary folder next to ``out_dir`` and moved into place only when all
of them are complete, so a failure leaves no partial output.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classes import ClassMap
from .notes import Note, write_midi


class OutputExistsError(FileExistsError):
    """An output file exists and overwriting was not asked for."""


@dataclass
class Activity:
    """Where one instrument plays.

    frame_rate: frames per second of ``probabilities``.
    probabilities: ``[frames]`` float32 in 0-1 (smoothed activity head output).
    segments: ``[(start_s, end_s), ...]`` where the smoothed probability is above ``threshold``.
    """

    frame_rate: float
    probabilities: np.ndarray
    segments: list[tuple[float, float]]
    threshold: float = 0.5

    @property
    def active(self) -> bool:
        return bool(self.segments)

    def to_json(self) -> dict:
        return {"frame_rate": self.frame_rate, "threshold": self.threshold,
                "segments": [[round(a, 3), round(b, 3)] for a, b in self.segments],
                "probabilities": [round(float(p), 3) for p in self.probabilities]}


def segments_from_probabilities(prob: np.ndarray, frame_rate: float, threshold: float = 0.5,
                                min_gap: float = 0.25, min_length: float = 0.1) -> list[tuple[float, float]]:
    """Active segments (seconds) of a frame probability curve ``[frames]``.

    Gaps shorter than ``min_gap`` seconds are closed; segments shorter than ``min_length`` dropped.
    """
    on = np.asarray(prob) >= threshold
    if not on.any():
        return []
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    segs: list[list[float]] = []
    for a, b in zip(starts / frame_rate, ends / frame_rate):
        if segs and a - segs[-1][1] < min_gap:
            segs[-1][1] = float(b)
        else:
            segs.append([float(a), float(b)])
    return [(a, b) for a, b in segs if b - a >= min_length]


@dataclass
class SeparationResult:
    """Stems, notes and activity of one recording.

    stems: class -> ``[channels, samples]`` float32 at ``sample_rate`` (the input's rate and length).
    notes: class -> notes (seconds, MIDI pitch/velocity).
    activity: class -> Activity.
    rolls: class -> {"frame": ``[frames, rows]``, "onset": ``[frames, rows]``} probabilities at
        ``frame_rate`` (rows: 88 keys from MIDI 21, or the drum classes).
    mixture: the input ``[channels, samples]`` (kept for the report; may be None).
    """

    sample_rate: int
    stems: dict[str, np.ndarray]
    notes: dict[str, list[Note]]
    activity: dict[str, Activity]
    class_map: ClassMap
    frame_rate: float
    rolls: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    mixture: np.ndarray | None = None
    model_name: str = ""
    settings: dict = field(default_factory=dict)
    input_name: str = ""

    @property
    def duration(self) -> float:
        n = next(iter(self.stems.values())).shape[-1] if self.stems else 0
        return n / self.sample_rate

    def output_names(self, format: str = "wav", midi: bool = True, report: bool = False) -> list[str]:
        """File names ``save`` writes into the track folder."""
        return output_names(list(self.stems), format, midi, report)

    def save(self, out_dir: str | Path, format: str = "wav", midi: bool = True, report: bool = False,
             overwrite: bool = False) -> list[Path]:
        """Write the track folder (layout in the module docstring); returns the paths written.

        Raises OutputExistsError, before writing anything, when an output exists and
        ``overwrite`` is False. Other files in ``out_dir`` are never touched.
        """
        from .audio import save_audio

        if format not in ("wav", "flac"):
            raise ValueError(f"unsupported output format {format!r}; use wav or flac")
        out_dir = Path(out_dir)
        check_outputs(out_dir, self.output_names(format, midi, report), report, overwrite)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
        try:
            for c, audio in self.stems.items():
                save_audio(tmp / f"{c}.{format}", audio, self.sample_rate)
            self.write_extras(tmp, format=format, midi=midi, report=report)
            return move_into_place(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def write_extras(self, folder: Path, format: str = "wav", midi: bool = True, report: bool = False) -> None:
        """Write everything but the stems (MIDI, activity.json, report) into ``folder``."""
        if midi:
            for c, notes in self.notes.items():
                write_midi(folder / f"{c}.mid", {c: notes}, self.class_map)
            write_midi(folder / "transcription.mid", self.notes, self.class_map)
        (folder / "activity.json").write_text(json.dumps(
            {"model": self.model_name, "classes": {c: a.to_json() for c, a in self.activity.items()}}))
        if report:
            from .report import build_report

            build_report(self, folder, audio_format=format)


def output_names(stems: list[str], format: str = "wav", midi: bool = True, report: bool = False) -> list[str]:
    """File names of a track folder for these stems and options."""
    names = [f"{c}.{format}" for c in stems]
    if midi:
        names += [f"{c}.mid" for c in stems] + ["transcription.mid"]
    names.append("activity.json")
    if report:
        names.append("report.html")
    return names


def check_outputs(out_dir: Path, names: list[str], report: bool, overwrite: bool) -> None:
    """Raise OutputExistsError when any planned output exists and ``overwrite`` is False."""
    existing = [n for n in names if (out_dir / n).exists()]
    if report and (out_dir / "report").exists():
        existing.append("report/")
    if existing and not overwrite:
        raise OutputExistsError(f"{out_dir}: {', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''} "
                                f"already exist; pass --overwrite to replace them")


def move_into_place(tmp: Path, out_dir: Path) -> list[Path]:
    """Move every file of a finished temporary folder into ``out_dir`` (replacing same-named ones)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for p in sorted(tmp.iterdir()):
        dest = out_dir / p.name
        if dest.is_dir() and p.is_dir():
            shutil.rmtree(dest)
        os.replace(p, dest)
        written.append(dest)
    return written
