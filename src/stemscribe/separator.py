"""The public API: ``Separator`` turns recordings into stems, notes and activity.

```python
from stemscribe import Separator
sep = Separator("default", device="cpu")
result = sep.separate_file("song.flac")      # or sep.separate(audio [channels, samples], sample_rate)
result.save("out/song")
```
The network runs at its own rate (16 kHz mono by default); stems come back at the input's rate,
channel count and exact length, and the full set of stems sums to the input.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from . import hub
from .audio import load_audio, resample, validate_audio
from .inference import GATE_HIGH, GATE_LOW, Analysis, analyze, render
from .notes import DecodeOptions, rolls_to_notes
from .results import (Activity, SeparationResult, check_outputs, move_into_place, output_names,
                      segments_from_probabilities)

__all__ = ["Separator", "SeparationResult", "SeparatorOptions"]


def resolve_device(device: str) -> torch.device:
    """"auto" picks CUDA when available, else the CPU; asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


@dataclass
class SeparatorOptions:
    """Inference settings (stored in every result and report).

    chunk_seconds / overlap_seconds: network chunk length and cross-fade, seconds.
    segment_seconds: length of the full-rate masking segments, seconds (bounds memory).
    gate: apply the smoothed activity to the masks (a silent instrument's stem stays silent).
    mask_power: exponent applied to every class's mask before renormalising (``inference.temper_masks``);
        None: the model's per-class values tuned on validation, else 1.
    activity_threshold: smoothed activity probability above which a class counts as playing.
    """

    chunk_seconds: float = 20.0
    overlap_seconds: float = 2.0
    segment_seconds: float = 30.0
    batch_chunks: int = 4
    gate: bool = True
    mask_power: float | None = None
    activity_threshold: float = 0.5
    decode: DecodeOptions = field(default_factory=DecodeOptions)


class Separator:
    """Loads a model once; separates any number of recordings.

    model: a registry name ("default", "tiny-test") or a checkpoint path.
    device: "auto", "cpu" or "cuda".
    """

    def __init__(self, model: str | Path = "default", device: str = "auto",
                 options: SeparatorOptions | None = None, **overrides):
        self.device = resolve_device(device)
        loaded = hub.load_model_info(model, self.device)
        self.model, self.config, self.model_name = loaded.model, loaded.config, loaded.name
        self.heads = loaded.heads
        self.tuned_decode = loaded.decode
        self.tuned_gate = loaded.gate
        self.tuned_mask_power = loaded.mask_power
        self.class_map = self.config.class_map
        self.options = replace(options or SeparatorOptions(), **overrides)

    @property
    def gating(self) -> bool:
        """Whether masks and notes are gated by activity: asked for, and the activity head was trained."""
        return self.options.gate and "act" in self.heads

    def decode_options(self, name: str) -> DecodeOptions:
        """Note thresholds for class ``name``: the options' own, else the model's tuned ones, else defaults."""
        return self.options.decode.resolved(self.tuned_decode.get(name))

    def gate_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) ``[C]`` of the activity gate per class: the model's tuned bounds, else the
        defaults (``inference.GATE_LOW``/``GATE_HIGH``)."""
        names = self.class_map.names
        low = np.array([self.tuned_gate.get(c, {}).get("low", GATE_LOW) for c in names], np.float32)
        high = np.array([self.tuned_gate.get(c, {}).get("high", GATE_HIGH) for c in names], np.float32)
        return low, high

    def mask_powers(self) -> np.ndarray:
        """``[C]`` mask exponents: the options' one for all classes if set, else the model's tuned
        ones, else 1."""
        if self.options.mask_power is not None:
            return np.full(len(self.class_map), float(self.options.mask_power), np.float32)
        return np.array([self.tuned_mask_power.get(c, 1.0) for c in self.class_map.names], np.float32)

    @property
    def sample_rate(self) -> int:
        """The network's own sample rate, Hz."""
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.frame_rate

    def _select(self, stems: Sequence[str] | None) -> list[int]:
        if not stems:
            return list(range(len(self.class_map)))
        unknown = [s for s in stems if s not in self.class_map.names]
        if unknown:
            raise ValueError(f"unknown stem {', '.join(unknown)}; this model has {', '.join(self.class_map.names)}")
        return [self.class_map.index(s) for s in stems]

    def analyze(self, audio: np.ndarray, sample_rate: int,
                progress: Callable[[int, int], None] | None = None) -> Analysis:
        """Network outputs for ``audio [channels, samples]`` (any rate) at the model's frame rate."""
        mono = resample(audio.mean(axis=0, keepdims=True), sample_rate, self.sample_rate)[0]
        o = self.options
        low, high = self.gate_bounds()
        return analyze(self.model, self.config, mono, o.chunk_seconds, o.overlap_seconds, o.batch_chunks,
                       self.device, progress, low, high)

    def class_rolls(self, an: Analysis, ci: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frame, onset, velocity) ``[T, rows]`` float32 of class index ``ci``; frame and onset
        probabilities gated by its activity when gating is on."""
        offs = np.cumsum([0] + self.model.rows)
        sl = slice(offs[ci], offs[ci + 1])
        g = an.gate[:, ci:ci + 1] if self.gating else 1.0
        return an.frame[:, sl] * g, an.onset[:, sl] * g, an.velocity[:, sl]

    def _transcribe(self, an: Analysis, which: list[int]) -> tuple[dict, dict, dict]:
        notes, activity, rolls = {}, {}, {}
        fr = self.frame_rate
        for ci in which:
            c = self.class_map.classes[ci]
            frame, onset, velocity = self.class_rolls(an, ci)
            # A model whose transcription head was never trained (an ablation) writes no notes.
            notes[c.name] = (rolls_to_notes(frame, onset, fr, c.is_drum, velocity, self.decode_options(c.name))
                             if "tr" in self.heads else [])
            p = an.activity[:, ci]
            activity[c.name] = Activity(fr, p.astype(np.float32),
                                        segments_from_probabilities(p, fr, self.options.activity_threshold),
                                        self.options.activity_threshold)
            rolls[c.name] = {"frame": np.ascontiguousarray(frame, np.float32), "onset": np.ascontiguousarray(onset, np.float32)}
        return notes, activity, rolls

    def _settings(self) -> dict:
        return {"model": self.model_name, "device": str(self.device), **asdict(self.options),
                "decode_per_class": {c: asdict(self.decode_options(c)) for c in self.class_map.names},
                "heads": sorted(self.heads), "model_config": asdict(self.config)}

    def separate(self, audio: np.ndarray, sample_rate: int, stems: Sequence[str] | None = None,
                 name: str = "input", progress: Callable[[int, int], None] | None = None) -> SeparationResult:
        """Separate and transcribe ``audio [channels, samples]`` at ``sample_rate`` Hz."""
        audio = validate_audio(audio, int(sample_rate), name)
        which = self._select(stems)
        an = self.analyze(audio, sample_rate, progress)
        out = {self.class_map.classes[ci].name: np.zeros_like(audio) for ci in which}
        names = list(out)
        for s0, seg in render(audio, sample_rate, an, self.config, which, self.options.segment_seconds,
                              self.device, self.gating, self.mask_powers()):
            for j, n in enumerate(names):
                out[n][:, s0:s0 + seg.shape[-1]] = seg[j]
        notes, activity, rolls = self._transcribe(an, which)
        return SeparationResult(int(sample_rate), out, notes, activity, self.class_map, self.frame_rate, rolls,
                                mixture=audio, model_name=self.model_name, settings=self._settings(),
                                input_name=name)

    def separate_file(self, path: str | Path, stems: Sequence[str] | None = None,
                      progress: Callable[[int, int], None] | None = None) -> SeparationResult:
        """Read an audio file (wav, flac, ogg, mp3; others through ffmpeg) and separate it."""
        audio, sr = load_audio(path)
        return self.separate(audio, sr, stems, name=Path(path).stem, progress=progress)

    def separate_to(self, path: str | Path, out_dir: str | Path, stems: Sequence[str] | None = None,
                    format: str = "wav", midi: bool = True, report: bool = False, overwrite: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> list[Path]:
        """Separate a file straight into ``out_dir`` (the CLI's path), streaming the stems to disk.

        Memory stays bounded for long songs: stems are written segment by segment instead of
        being held in memory. Same layout and guarantees as ``SeparationResult.save``: existing
        outputs are refused before any work unless ``overwrite``; nothing partial is left behind.
        """
        import soundfile as sf

        if format not in ("wav", "flac"):
            raise ValueError(f"unsupported output format {format!r}; use wav or flac")
        which = self._select(stems)
        names = [self.class_map.classes[ci].name for ci in which]
        out_dir = Path(out_dir)
        check_outputs(out_dir, output_names(names, format, midi, report), report, overwrite)
        audio, sr = load_audio(path)
        an = self.analyze(audio, sr, progress)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
        try:
            subtype = "FLOAT" if format == "wav" else "PCM_24"
            writers = [sf.SoundFile(str(tmp / f"{n}.{format}"), "w", sr, audio.shape[0], subtype=subtype,
                                    format=format.upper()) for n in names]
            try:
                for _, seg in render(audio, sr, an, self.config, which, self.options.segment_seconds,
                                     self.device, self.gating, self.mask_powers()):
                    for w, y in zip(writers, seg):
                        w.write(np.clip(y, -1, 1).T if format == "flac" else y.T)
            finally:
                for w in writers:
                    w.close()
            notes, activity, rolls = self._transcribe(an, which)
            del an
            result = SeparationResult(sr, {}, notes, activity, self.class_map, self.frame_rate, rolls,
                                      mixture=audio if report else None, model_name=self.model_name,
                                      settings=self._settings(), input_name=Path(path).stem)
            if not report:
                del audio
            else:
                result.stems = {n: sf.read(str(tmp / f"{n}.{format}"), dtype="float32", always_2d=True)[0].T
                                for n in names}
            result.write_extras(tmp, format=format, midi=midi, report=report)
            return move_into_place(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

