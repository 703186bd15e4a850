"""basic-pitch (Spotify, ICASSP 2022) as a transcription baseline.

basic-pitch is an optional extra. Its pip metadata pulls TensorFlow on Linux with Python >= 3.11,
but the wheel ships an ONNX model too, so stemscribe installs it without TensorFlow::

    pip install onnxruntime librosa scikit-learn "resampy>=0.4.3"
    pip install --no-deps basic-pitch

(resampy 0.4.3 instead of basic-pitch's pin < 0.4.3, whose import needs ``pkg_resources``,
gone from current setuptools.) When it is missing, ``basic_pitch_status()`` says so and the
evaluation reports the baseline as "not installed".

basic-pitch transcribes pitched notes without telling instruments apart and has no drum
output; its default thresholds (onset 0.5, frame 0.3, minimum note 127.7 ms, melodia trick on)
are used unchanged.
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np

from ..notes import Note

INSTALL_HINT = ('pip install onnxruntime librosa scikit-learn "resampy>=0.4.3" && '
                "pip install --no-deps basic-pitch")

# basic-pitch.inference.predict's defaults.
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_MS = 127.70
# Windows (2 s each) per ONNX call: bounds memory on long inputs.
BATCH_WINDOWS = 16


@contextlib.contextmanager
def _quiet():
    # basic-pitch logs a warning per missing backend on import and prints a line per prediction.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def basic_pitch_status() -> str:
    """"ok" when basic-pitch and a backend for its shipped model can be used, else why not."""
    try:
        with _quiet():
            import basic_pitch
            from basic_pitch import inference  # noqa: F401  (imports librosa, resampy)
    except ImportError as e:
        return f"not installed ({e.name or e}); install with: {INSTALL_HINT}"
    except Exception as e:  # a broken install (e.g. resampy needing pkg_resources) raises anything
        return f"not usable ({type(e).__name__}: {e}); install with: {INSTALL_HINT}"
    if not (basic_pitch.ONNX_PRESENT or basic_pitch.TF_PRESENT or basic_pitch.TFLITE_PRESENT
            or basic_pitch.CT_PRESENT):
        return f"not installed (no inference backend); install with: {INSTALL_HINT}"
    return "ok"


class BasicPitch:
    """A loaded basic-pitch model; ``transcribe`` turns mono audio into notes.

    Raises RuntimeError with the install command when basic-pitch is unavailable.
    """

    def __init__(self) -> None:
        status = basic_pitch_status()
        if status != "ok":
            raise RuntimeError(f"basic-pitch is {status}")
        with _quiet():
            from basic_pitch import ICASSP_2022_MODEL_PATH
            from basic_pitch.inference import Model

            self.model_path = Path(ICASSP_2022_MODEL_PATH)
            self._model = Model(ICASSP_2022_MODEL_PATH)

    @property
    def backend(self) -> str:
        return str(getattr(self._model, "model_type", "unknown")).rsplit(".", 1)[-1].lower()

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> list[Note]:
        """Notes (seconds, MIDI pitch, velocity from basic-pitch's amplitude) of mono ``audio [samples]``.

        The same steps as ``basic_pitch.inference.predict`` with its default thresholds, built from
        its own helpers, except that the audio comes from memory (resampled with soxr HQ, as
        librosa.load does) and the overlapping 2 s windows go through the ONNX model in batches
        rather than one at a time (about 40 % faster; outputs equal to 1e-7).
        """
        from ..audio import resample

        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"audio must be a non-empty mono signal [samples], got shape {x.shape}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        with _quiet():
            import basic_pitch.note_creation as note_creation
            from basic_pitch.constants import AUDIO_N_SAMPLES, AUDIO_SAMPLE_RATE, FFT_HOP
            from basic_pitch.inference import unwrap_output, window_audio_file

            x = resample(x[None], sample_rate, AUDIO_SAMPLE_RATE)[0]
            # basic-pitch's run_inference: 30 frames of overlap between windows, half of it padded in front.
            n_overlap = 30
            overlap = n_overlap * FFT_HOP
            padded = np.concatenate([np.zeros(overlap // 2, np.float32), x])
            windows = np.stack([w for w, _ in window_audio_file(padded, AUDIO_N_SAMPLES - overlap)])
            batch = BATCH_WINDOWS if self.backend == "onnx" else 1
            parts: dict[str, list[np.ndarray]] = {"note": [], "onset": [], "contour": []}
            for i in range(0, len(windows), batch):
                for k, v in self._model.predict(windows[i:i + batch]).items():
                    parts[k].append(v)
            output = {k: unwrap_output(np.concatenate(v), x.size, n_overlap) for k, v in parts.items()}
            min_note_frames = int(np.round(MIN_NOTE_MS / 1000 * (AUDIO_SAMPLE_RATE / FFT_HOP)))
            _, events = note_creation.model_output_to_notes(
                output, onset_thresh=ONSET_THRESHOLD, frame_thresh=FRAME_THRESHOLD, min_note_len=min_note_frames,
                min_freq=None, max_freq=None, multiple_pitch_bends=False, melodia_trick=True, midi_tempo=120)
        notes = [Note(int(p), float(a), float(b), int(np.clip(round(127 * float(amp)), 1, 127)))
                 for a, b, p, amp, _ in events]
        return sorted(notes, key=lambda n: (n.start, n.pitch))
