"""Render song parts to dry mono audio with FluidSynth (through pyfluidsynth).

Every part of a track gets its own MIDI channel (drums on channel 9, bank 128) and its own
FluidSynth output group, so each stem comes out as a separate dry signal, with no crosstalk,
from one pass over the track's events: note-on/off events are scheduled sample-accurately by
rendering exactly up to each event's sample before sending it. A fresh synth renders each
track, so a track's audio never depends on what was rendered before it (a reused, reset synth
is not bit-identical: voice state carries over). FluidSynth's reverb and chorus are off, so
stems are dry and aligned (effects come later, per stem, from ``effects.py``).

Timing: FluidSynth renders in blocks of 64 samples and an event sent between blocks takes
effect at the next block boundary, so a rendered onset lags its MIDI time by 0-63 samples
(under 1.5 ms at 44.1 kHz).
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..notes import Note
from .song import CLASS_PROGRAMS, Part

BLOCK = 64  # FluidSynth's internal block (FLUID_BUFSIZE), samples
CHUNK = 8192  # samples rendered per call between events
DRUM_CHANNEL, DRUM_BANK = 9, 128
MAX_GROUPS = 128  # FluidSynth's limit on audio groups, so on parts per track


class RenderError(RuntimeError):
    """A part cannot be rendered with the chosen soundfont (the message names both)."""


@dataclass(frozen=True)
class RenderedPart:
    """A rendered part: mono float32 audio ``[samples]`` and the GM program actually played."""

    audio: np.ndarray
    program: int


def _nwrite_float():
    import fluidsynth

    f = fluidsynth._fl.fluid_synth_nwrite_float
    f.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                  ctypes.c_void_p, ctypes.c_void_p]
    f.restype = ctypes.c_int
    return f


def tidy_notes(notes: list[Note], is_drum: bool) -> list[Note]:
    """Notes a synth plays exactly as labelled: pitches 0-127, velocities 1-127, positive lengths,
    and a note cut where the next note of the same pitch starts (a synth re-striking a held key
    would otherwise end the new note at the old note's note-off)."""
    out: list[Note] = []
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        if 0 <= n.pitch <= 127 and n.end > n.start >= 0:
            by_pitch.setdefault(n.pitch, []).append(n)
    for pitch, ns in by_pitch.items():
        for i, n in enumerate(ns):
            end = n.end
            if i + 1 < len(ns):
                end = min(end, ns[i + 1].start)
            if end - n.start >= 0.005 or (is_drum and end > n.start):
                out.append(Note(pitch, n.start, end, int(np.clip(n.velocity, 1, 127))))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def assign_channels(parts: list[Part]) -> list[int]:
    """MIDI channel of each part: the first drum part on channel 9 (GM), every other part on its
    own channel, skipping 9."""
    free = (c for c in range(MAX_GROUPS) if c != DRUM_CHANNEL)
    out, drum_taken = [], False
    for p in parts:
        if p.is_drum and not drum_taken:
            out.append(DRUM_CHANNEL)
            drum_taken = True
        else:
            out.append(next(free))
    return out


class Renderer:
    """FluidSynth renderer: a fresh synth per track (or per part, for :meth:`render`).

    Loading a soundfont takes 0.2-10 s, so the renderer keeps one idle "anchor" synth per
    soundfont alive; FluidSynth's sample cache then makes loading it into each new synth cheap.

    sample_rate: output rate in Hz. gain: FluidSynth master gain (0.2 is FluidSynth's default;
    0.5 keeps quiet instruments well above the 16-bit floor without clipping dense parts).
    """

    def __init__(self, sample_rate: int = 44100, gain: float = 0.5):
        self.sample_rate = int(sample_rate)
        self.gain = float(gain)
        self._anchors: dict[str, tuple[object, int]] = {}
        self._nwrite = _nwrite_float()

    def _new_synth(self, groups: int):
        import fluidsynth

        channels = 16 * -(-groups // 16)
        return fluidsynth.Synth(gain=self.gain, samplerate=float(self.sample_rate), channels=channels, **{
            "synth.audio-groups": channels, "synth.audio-channels": channels, "synth.polyphony": 4096,
            "synth.reverb.active": 0, "synth.chorus.active": 0})

    def load(self, soundfont: Path) -> tuple[object, int]:
        """Load a soundfont once for this renderer (later loads hit FluidSynth's sample cache);
        returns its idle anchor synth and soundfont id."""
        key = str(soundfont)
        if key not in self._anchors:
            s = self._new_synth(1)
            sfid = s.sfload(key)
            if sfid < 0:
                s.delete()
                raise RenderError(f"{soundfont}: FluidSynth cannot load this soundfont")
            self._anchors[key] = (s, sfid)
        return self._anchors[key]

    def has_preset(self, soundfont: Path, program: int, is_drum: bool) -> bool:
        """Whether the soundfont has the GM preset (bank 128 for drum kits)."""
        s, sfid = self.load(soundfont)
        return s.sfpreset_name(sfid, DRUM_BANK if is_drum else 0, int(program)) is not None

    def program_for(self, soundfont: Path, part: Part) -> int:
        """The part's program, or the nearest one of its class the soundfont has."""
        if self.has_preset(soundfont, part.program, part.is_drum):
            return part.program
        pool = [0] if part.is_drum else sorted(CLASS_PROGRAMS[part.cls], key=lambda p: abs(p - part.program))
        for p in pool:
            if self.has_preset(soundfont, p, part.is_drum):
                return p
        kind = "drum kit" if part.is_drum else f"program {part.program}"
        raise RenderError(f"{soundfont}: has no preset for {kind} ({part.cls}) nor any other of its class")

    def render(self, part: Part, soundfont: Path, n_samples: int) -> RenderedPart:
        """Render one part dry to mono float32 ``[n_samples]`` (notes past the end are cut)."""
        return self.render_parts([part], [soundfont], n_samples)[0]

    def render_parts(self, parts: list[Part], soundfonts: list[Path], n_samples: int) -> list[RenderedPart]:
        """Render each part dry to its own mono float32 ``[n_samples]`` in one pass.

        soundfonts: the soundfont of each part (parts of one track may use different ones).
        """
        if len(parts) != len(soundfonts):
            raise ValueError(f"{len(parts)} parts but {len(soundfonts)} soundfonts")
        if len(parts) >= MAX_GROUPS:
            raise RenderError(f"a track may have at most {MAX_GROUPS - 1} parts, this one has {len(parts)}")
        programs = [self.program_for(f, p) for p, f in zip(parts, soundfonts)]
        channels = assign_channels(parts)
        s = self._new_synth(max(channels) + 1)
        try:
            sfids: dict[str, int] = {}
            for f in soundfonts:
                if str(f) not in sfids:
                    self.load(f)  # keep the anchor, so this load hits the sample cache
                    sfids[str(f)] = s.sfload(str(f))
            for p, f, prog, ch in zip(parts, soundfonts, programs, channels):
                s.program_select(ch, sfids[str(f)], DRUM_BANK if p.is_drum else 0, prog)
            audio = self._play(s, parts, channels, n_samples)
        finally:
            s.delete()
        return [RenderedPart(a, prog) for a, prog in zip(audio, programs)]

    def _play(self, s, parts: list[Part], channels: list[int], n_samples: int) -> list[np.ndarray]:
        sr = self.sample_rate
        events: list[tuple[int, int, int, int, int]] = []  # (sample, on=1/off=0, channel, pitch, velocity)
        for p, ch in zip(parts, channels):
            for n in tidy_notes(p.notes, p.is_drum):
                events.append((int(round(n.start * sr)), 1, ch, n.pitch, n.velocity))
                events.append((int(round(n.end * sr)), 0, ch, n.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1], e[2], e[3]))  # note-offs before note-ons at one sample

        groups = 16 * -(-(max(channels) + 1) // 16)
        left = np.zeros((groups, CHUNK), np.float32)
        right = np.zeros((groups, CHUNK), np.float32)
        lp = (ctypes.c_void_p * groups)(*[left[g].ctypes.data for g in range(groups)])
        rp = (ctypes.c_void_p * groups)(*[right[g].ctypes.data for g in range(groups)])
        out = np.zeros((len(parts), n_samples), np.float32)
        ch_idx = np.array(channels)
        pos = 0

        def advance(to: int) -> None:
            nonlocal pos
            to = min(to, n_samples)
            while pos < to:
                k = min(CHUNK, to - pos)
                self._nwrite(s.synth, k, lp, rp, None, None)
                out[:, pos:pos + k] = 0.5 * (left[ch_idx, :k] + right[ch_idx, :k])
                pos += k

        for sample, on, ch, pitch, vel in events:
            if sample >= n_samples:
                break
            advance(sample)
            if on:
                s.noteon(ch, pitch, vel)
            else:
                s.noteoff(ch, pitch)
        advance(n_samples)
        return list(out)

    def close(self) -> None:
        """Free the anchor synths."""
        for s, _ in self._anchors.values():
            s.delete()
        self._anchors.clear()
