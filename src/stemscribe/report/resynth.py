"""Re-synthesis of transcribed notes with FluidSynth, so a transcription can be heard.

Each class is rendered on its own with the class's General MIDI program (``export_program``);
the drum class plays on MIDI channel 10 with the soundfont's standard kit (bank 128). Reverb and
chorus are off: a dry render makes wrong or missing notes easier to hear and keeps one class's
tail out of the next class's render (all classes share one loaded soundfont).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..notes import Note

DRUM_CHANNEL = 9      # MIDI channel 10, 0-based
DRUM_BANK = 128       # the percussion bank of GM soundfonts
# Voices sounding at once; FluidSynth steals the oldest beyond this. Real parts rarely need more,
# and it bounds the render time when an untrained model emits notes everywhere.
POLYPHONY = 64
# Samples rendered per FluidSynth call; bounds the temporary buffer of a long silence.
_BLOCK = 1 << 16


class ResynthesisError(RuntimeError):
    """FluidSynth or the soundfont is unavailable; the message says what to install."""


class NoteRenderer:
    """Renders note lists to audio with one FluidSynth instance and one loaded soundfont.

    sample_rate: output rate in Hz. soundfont: path of an .sf2/.sf3 file; None finds FluidR3_GM.
    gain: FluidSynth's master gain (its output is 16-bit, so keep headroom for chords).
    """

    def __init__(self, sample_rate: int, soundfont: str | Path | None = None, gain: float = 0.4) -> None:
        try:
            import fluidsynth
        except (ImportError, OSError) as e:
            raise ResynthesisError(f"re-synthesis needs pyfluidsynth and libfluidsynth "
                                   f"('pip install pyfluidsynth', 'apt-get install libfluidsynth3'): {e}") from None
        if soundfont is None:
            from ..soundfonts import SoundfontError, find_soundfont

            try:
                soundfont = find_soundfont("FluidR3_GM")
            except SoundfontError as e:
                raise ResynthesisError(str(e)) from None
        self.sample_rate = int(sample_rate)
        self.soundfont = Path(soundfont)
        self._synth = fluidsynth.Synth(gain=gain, samplerate=self.sample_rate, **{
            "synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": POLYPHONY})
        self._sfid = self._synth.sfload(str(self.soundfont))
        if self._sfid < 0:
            self._synth.delete()
            raise ResynthesisError(f"{self.soundfont}: FluidSynth cannot load this soundfont")

    def close(self) -> None:
        """Free the synthesiser and its soundfont."""
        if self._synth is not None:
            self._synth.delete()
            self._synth = None

    def __enter__(self) -> "NoteRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _samples(self, n: int) -> np.ndarray:
        """``n`` stereo frames from the synth as float32 ``[n, 2]`` in -1..1."""
        parts = []
        while n > 0:
            k = min(n, _BLOCK)
            parts.append(np.asarray(self._synth.get_samples(k), dtype=np.float32).reshape(k, 2))
            n -= k
        return np.concatenate(parts) / 32768.0 if parts else np.zeros((0, 2), np.float32)

    def _silence(self, chan: int) -> None:
        """Stop every voice now and drain the synth, so the next render starts from silence."""
        self._synth.all_sounds_off(chan)
        self._synth.system_reset()
        quiet = 0
        for _ in range(2 * int(self.sample_rate) // 1024 + 1):   # at most two seconds
            # Two quiet blocks in a row: one quiet block can fall in a gap of a decaying voice.
            quiet = quiet + 1 if np.abs(self._samples(1024)).max() <= 2.0 / 32768.0 else 0
            if quiet == 2:
                break

    def render(self, notes: Iterable[Note], program: int, is_drum: bool, n_samples: int) -> np.ndarray:
        """Audio of ``notes`` (seconds, MIDI pitch/velocity) as mono float32 ``[n_samples]``.

        program: 0-based GM program (ignored for drums, which use the standard kit).
        Notes past ``n_samples`` are cut; sounding notes are released at the end.
        """
        if self._synth is None:
            raise ResynthesisError("the renderer was closed")
        chan = DRUM_CHANNEL if is_drum else 0
        if is_drum:
            self._synth.program_select(chan, self._sfid, DRUM_BANK, 0)
        else:
            self._synth.program_select(chan, self._sfid, 0, int(program))
        sr = self.sample_rate
        # (sample, order, pitch, velocity): note-offs (order 0) before note-ons (1) at one instant,
        # so a repeated pitch is struck again instead of being cut by the previous note's end.
        events: list[tuple[int, int, int, int]] = []
        for n in notes:
            a = int(round(n.start * sr))
            if a >= n_samples or not 0 <= n.pitch <= 127:
                continue
            b = max(a + 1, int(round(n.end * sr)))
            events.append((max(a, 0), 1, int(n.pitch), min(127, max(1, int(n.velocity)))))
            events.append((b, 0, int(n.pitch), 0))
        if not events:
            return np.zeros(n_samples, np.float32)
        events.sort()
        out: list[np.ndarray] = []
        pos = 0
        for s, on, pitch, vel in events:
            s = min(s, n_samples)
            if s > pos:
                out.append(self._samples(s - pos))
                pos = s
            if on:
                self._synth.noteon(chan, pitch, vel)
            else:
                self._synth.noteoff(chan, pitch)
        if n_samples > pos:
            out.append(self._samples(n_samples - pos))
        self._silence(chan)
        audio = np.concatenate(out) if out else np.zeros((n_samples, 2), np.float32)
        return audio.mean(axis=1).astype(np.float32)
