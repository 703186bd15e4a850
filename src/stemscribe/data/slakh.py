"""Reader for the Slakh2100 layout, shared by our rendered data and real Slakh2100/BabySlakh.

```
TrackNNNNN/
  mix.flac            (or mix.wav in BabySlakh)
  stems/S00.flac ...  (audio_rendered stems only)
  MIDI/S00.mid ...
  all_src.mid
  metadata.yaml       stems: {S00: {inst_class, program_num, is_drum, midi_program_name, plugin_name, audio_rendered}}
```
Stems are read mono (channels averaged); arrays are float32 ``[samples]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classes import DEFAULT_CLASSES, ClassMap
from ..notes import Note

AUDIO_EXTS = (".flac", ".wav")


class DataError(ValueError):
    """A dataset folder does not follow the Slakh layout; the message names the path."""


@dataclass(frozen=True)
class StemInfo:
    key: str
    program_num: int
    is_drum: bool
    inst_class: str = ""
    midi_program_name: str = ""
    plugin_name: str = ""
    audio_rendered: bool = True


@dataclass
class SlakhTrack:
    """One track folder. Audio is read lazily; nothing is cached on the object."""

    path: Path
    stems: dict[str, StemInfo] = field(default_factory=dict)
    split: str | None = None   # as recorded by ``stemscribe synth`` (None for other datasets)

    @property
    def name(self) -> str:
        return self.path.name

    def _audio_file(self, stem: Path) -> Path | None:
        for ext in AUDIO_EXTS:
            if stem.with_suffix(ext).is_file():
                return stem.with_suffix(ext)
        return None

    @property
    def mix_path(self) -> Path:
        p = self._audio_file(self.path / "mix")
        if p is None:
            raise DataError(f"{self.path}: no mix.flac or mix.wav")
        return p

    def stem_audio_path(self, key: str) -> Path | None:
        return self._audio_file(self.path / "stems" / key)

    def stem_midi_path(self, key: str) -> Path | None:
        p = self.path / "MIDI" / f"{key}.mid"
        return p if p.is_file() else None

    def sample_rate(self) -> int:
        import soundfile as sf

        return int(sf.info(str(self.mix_path)).samplerate)

    def class_of(self, key: str, class_map: ClassMap = DEFAULT_CLASSES) -> str | None:
        s = self.stems[key]
        return class_map.class_of(s.program_num, s.is_drum)

    def class_stems(self, class_map: ClassMap = DEFAULT_CLASSES) -> dict[str, list[str]]:
        """Class name -> keys of the rendered stems of that class (classes with no stem left out)."""
        out: dict[str, list[str]] = {}
        for key, s in sorted(self.stems.items()):
            if not s.audio_rendered or self.stem_audio_path(key) is None:
                continue
            name = self.class_of(key, class_map)
            if name is not None:
                out.setdefault(name, []).append(key)
        return out

    def load_stem(self, key: str, sample_rate: int | None = None) -> np.ndarray:
        """A stem's audio, mono float32 ``[samples]``, resampled when ``sample_rate`` is given."""
        p = self.stem_audio_path(key)
        if p is None:
            raise DataError(f"{self.path}: stem {key} has no audio file in stems/")
        return _read_mono(p, sample_rate)

    def load_mix(self, sample_rate: int | None = None) -> np.ndarray:
        return _read_mono(self.mix_path, sample_rate)

    def class_audio(self, class_map: ClassMap = DEFAULT_CLASSES, sample_rate: int | None = None,
                    ) -> dict[str, np.ndarray]:
        """Sum of each class's stems, mono ``[samples]``; all entries share one length."""
        out: dict[str, np.ndarray] = {}
        for name, keys in self.class_stems(class_map).items():
            for k in keys:
                x = self.load_stem(k, sample_rate)
                if name in out:
                    n = max(len(out[name]), len(x))
                    out[name] = np.pad(out[name], (0, n - len(out[name]))) + np.pad(x, (0, n - len(x)))
                else:
                    out[name] = x
        n = max((len(v) for v in out.values()), default=0)
        return {k: np.pad(v, (0, n - len(v))) for k, v in out.items()}

    def stem_notes(self, key: str) -> list[Note]:
        """Notes of one stem's MIDI file (all instruments in it), sorted by start."""
        import pretty_midi

        p = self.stem_midi_path(key)
        if p is None:
            return []
        try:
            pm = pretty_midi.PrettyMIDI(str(p))
        except Exception as e:  # pretty_midi raises many types on corrupt files
            raise DataError(f"{p}: cannot be read as MIDI ({e})") from None
        notes = [Note(n.pitch, float(n.start), float(n.end), int(n.velocity))
                 for inst in pm.instruments for n in inst.notes]
        return sorted(notes, key=lambda n: (n.start, n.pitch))

    def class_notes(self, class_map: ClassMap = DEFAULT_CLASSES) -> dict[str, list[Note]]:
        """Class name -> notes of all its stems (rendered stems only)."""
        out: dict[str, list[Note]] = {}
        for name, keys in self.class_stems(class_map).items():
            out[name] = sorted((n for k in keys for n in self.stem_notes(k)), key=lambda n: (n.start, n.pitch))
        return out


def _read_mono(path: Path, sample_rate: int | None) -> np.ndarray:
    import soundfile as sf

    from ..audio import resample

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sample_rate is not None and sr != sample_rate:
        x = resample(x[None], sr, sample_rate)[0]
    return x


def read_track(path: str | Path) -> SlakhTrack:
    """Parse one track folder's metadata.yaml; raises DataError when the layout is broken."""
    import yaml

    path = Path(path)
    meta_path = path / "metadata.yaml"
    if not meta_path.is_file():
        raise DataError(f"{path}: not a Slakh-layout track (no metadata.yaml)")
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DataError(f"{meta_path}: cannot be parsed as YAML ({e})") from None
    rows = meta.get("stems")
    if not isinstance(rows, dict) or not rows:
        raise DataError(f"{meta_path}: has no 'stems' table")
    stems = {}
    for key, r in rows.items():
        if not isinstance(r, dict) or "program_num" not in r:
            raise DataError(f"{meta_path}: stem {key} has no program_num")
        stems[str(key)] = StemInfo(
            key=str(key), program_num=int(r["program_num"]), is_drum=bool(r.get("is_drum", False)),
            inst_class=str(r.get("inst_class", "")), midi_program_name=str(r.get("midi_program_name", "")),
            plugin_name=str(r.get("plugin_name", "")), audio_rendered=bool(r.get("audio_rendered", True)))
    ours = meta.get("stemscribe")
    return SlakhTrack(path, stems, ours.get("split") if isinstance(ours, dict) else None)


def find_tracks(root: str | Path) -> list[SlakhTrack]:
    """All track folders (those holding metadata.yaml) at or below ``root``, sorted by path.

    Raises DataError when ``root`` is missing or holds no Slakh-layout track.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if (root / "metadata.yaml").is_file():
        return [read_track(root)]
    tracks = [read_track(p.parent) for p in sorted(root.rglob("metadata.yaml"))]
    if not tracks:
        raise DataError(f"{root}: no Slakh-layout tracks found (no TrackNNNNN/metadata.yaml below it)")
    return tracks
