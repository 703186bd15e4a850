"""Render song parts to dry mono audio with FluidSynth (through pyfluidsynth).

Each part is rendered on its own, on a synth that holds only the part's soundfont: program
select, then note-on/off events scheduled sample-accurately by rendering exactly up to each
event's sample before sending it. FluidSynth's reverb and chorus are off, so stems are dry and
aligned (effects come later, per stem, from ``effects.py``).

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
MELODIC_CHANNEL, DRUM_CHANNEL, DRUM_BANK = 0, 9, 128


class RenderError(RuntimeError):
    """A part cannot be rendered with the chosen soundfont (the message names both)."""


@dataclass(frozen=True)
class RenderedPart:
    """A rendered part: mono float32 audio ``[samples]`` and the GM program actually played."""

    audio: np.ndarray
    program: int


def _write_float():
    import fluidsynth

    f = fluidsynth._fl.fluid_synth_write_float
    f.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                  ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
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


class Renderer:
    """FluidSynth renderer: one fresh synth per part, so a part renders the same whatever was
    rendered before it (a reused, reset synth is not bit-identical: voice state carries over).

    Loading a soundfont takes 0.5-10 s, so the renderer keeps one idle "anchor" synth per soundfont
    alive; FluidSynth's sample cache then makes loading it into each part's synth near-free.

    sample_rate: output rate in Hz. gain: FluidSynth master gain (0.2 is FluidSynth's default;
    0.5 keeps quiet instruments well above the 16-bit floor without clipping dense parts).
    """

    def __init__(self, sample_rate: int = 44100, gain: float = 0.5):
        self.sample_rate = int(sample_rate)
        self.gain = float(gain)
        self._anchors: dict[str, tuple[object, int]] = {}
        self._write = _write_float()

    def _new_synth(self, soundfont: Path):
        import fluidsynth

        s = fluidsynth.Synth(gain=self.gain, samplerate=float(self.sample_rate))
        s.setting("synth.reverb.active", 0)
        s.setting("synth.chorus.active", 0)
        s.setting("synth.polyphony", 1024)
        sfid = s.sfload(str(soundfont))
        if sfid < 0:
            s.delete()
            raise RenderError(f"{soundfont}: FluidSynth cannot load this soundfont")
        return s, sfid

    def _synth(self, soundfont: Path):
        """The anchor synth of a soundfont (loads the soundfont on first use)."""
        key = str(soundfont)
        if key not in self._anchors:
            self._anchors[key] = self._new_synth(soundfont)
        return self._anchors[key]

    def has_preset(self, soundfont: Path, program: int, is_drum: bool) -> bool:
        """Whether the soundfont has the GM preset (bank 128 for drum kits)."""
        s, sfid = self._synth(soundfont)
        return s.sfpreset_name(sfid, DRUM_BANK if is_drum else 0, int(program)) is not None

    def _program(self, soundfont: Path, part: Part) -> int:
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
        program = self._program(soundfont, part)
        s, sfid = self._new_synth(soundfont)
        try:
            return RenderedPart(self._play(s, sfid, part, program, n_samples), program)
        finally:
            s.delete()

    def _play(self, s, sfid: int, part: Part, program: int, n_samples: int) -> np.ndarray:
        ch = DRUM_CHANNEL if part.is_drum else MELODIC_CHANNEL
        s.program_select(ch, sfid, DRUM_BANK if part.is_drum else 0, program)
        sr = self.sample_rate
        events: list[tuple[int, int, int, int]] = []  # (sample, on=1/off=0, pitch, velocity)
        for n in tidy_notes(part.notes, part.is_drum):
            events.append((int(round(n.start * sr)), 1, n.pitch, n.velocity))
            events.append((int(round(n.end * sr)), 0, n.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same sample

        total = n_samples
        left = np.zeros(total, np.float32)
        right = np.zeros(total, np.float32)
        pos = 0

        def advance(to: int) -> None:
            nonlocal pos
            to = min(to, total)
            if to > pos:
                self._write(s.synth, to - pos, left.ctypes.data + 4 * pos, 0, 1, right.ctypes.data + 4 * pos, 0, 1)
                pos = to

        for sample, on, pitch, vel in events:
            if sample >= total:
                break
            advance(sample)
            if on:
                s.noteon(ch, pitch, vel)
            else:
                s.noteoff(ch, pitch)
        advance(total)
        return (0.5 * (left[:n_samples] + right[:n_samples])).astype(np.float32)

    def close(self) -> None:
        """Free the synths."""
        for s, _ in self._anchors.values():
            s.delete()
        self._anchors.clear()
