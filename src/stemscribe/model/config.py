"""Model and training configuration. The defaults are the documentation; presets override them.

Every checkpoint stores the resolved ``ModelConfig`` and ``TrainConfig`` as plain dicts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..classes import DEFAULT_CLASSES, ClassMap

# The norms the spectral mask-inference loss knows (losses.mask_inference_loss).
MI_LOSS_NORMS = ("l1", "l2")


@dataclass
class ModelConfig:
    """The network.

    Audio front end: mono at ``sample_rate`` Hz, STFT with ``n_fft``/``hop`` samples, so
    ``frame_rate = sample_rate / hop`` frames per second (62.5 by default, 16 ms a frame).
    Shared part ("crnn"): per-frame linear compression of the log spectrum to ``front_dim``,
    a temporal convolution, then ``rnn_layers`` bidirectional LSTMs of ``rnn_dim`` units each way.
    Heads: masks (one per class, softmax across classes so masks sum to 1), deep-clustering
    embeddings of ``dc_dim`` per time-frequency bin, transcription (frame, onset, velocity per
    row: 88 keys per pitched class, 5 drum classes for drums), activity (one logit per class).

    "crnn-v2" adds a pitch branch (model/pitch.py): the log spectrum resampled to
    ``pitch_bins_per_semitone`` bins a semitone, stacked at ``pitch_harmonics`` (multiples of f0),
    and 2-D convolutions shared across keys give ``pitch_channels`` features per key and frame.
    They feed the shared part (added to the front features) and the pitched classes' piano rolls
    (modulated per class by the shared state). "crnn-v1" ignores the ``pitch_*`` fields.

    "crnn-v3" adds note-informed masks (model/notemask.py): each class's frame probabilities,
    through harmonic templates of ``note_mask_harmonics`` harmonics per key with learned weights
    (learned spectra for the drum rows), are added to its mask logits.

    "crnn-v4" adds a mask refinement (model/maskrefine.py): ``refine_channels`` channels of 2-D
    convolutions over (frequency, time), dilated along frequency by ``refine_dilations``, that
    correct every class's mask logits bin by bin from the logits and the log mixture.
    """

    arch: str = "crnn-v3"
    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    classes: list[dict] = field(default_factory=DEFAULT_CLASSES.to_dict)
    front_dim: int = 256
    conv_kernel: int = 5
    rnn_dim: int = 160
    rnn_layers: int = 3
    dropout: float = 0.1
    dc_dim: int = 20
    pitch_bins_per_semitone: int = 3
    pitch_harmonics: list[float] = field(default_factory=lambda: [0.5, 1, 2, 3, 4, 5, 6, 7])
    pitch_channels: int = 16
    note_mask_harmonics: int = 16
    refine_channels: int = 8
    refine_dilations: list[int] = field(default_factory=lambda: [1, 2, 4])

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def class_map(self) -> ClassMap:
        return ClassMap.from_dict(self.classes)


@dataclass
class TrainConfig:
    """The training recipe. Loss = w_dc*DC + w_mi*MI + w_tr*TR + w_act*ACT; any weight may be 0."""

    preset: str = "default"
    w_dc: float = 1.0
    w_mi: float = 1.0
    w_tr: float = 1.0
    w_act: float = 0.5
    steps: int = 8000
    batch_size: int = 8
    crop_seconds: float = 3.0
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    # Data: probability a training mixture is a remix of stems drawn from different tracks.
    remix_prob: float = 0.5
    # Probability each class present in a crop is dropped from the mixture (teaches activity/gating).
    drop_class_prob: float = 0.15
    gain_db: float = 6.0
    # Per-class random equaliser (``data.dataset.random_eq_db``): a smooth gain curve over log
    # frequency whose largest gain is U(0, eq_db) dB, so no soundfont's spectral balance is the only
    # one the model hears. 0: off.
    eq_db: float = 0.0
    # Fraction of frames the deep-clustering loss is computed on (it is the costliest head).
    dc_frame_fraction: float = 0.25
    onset_pos_weight: float = 5.0
    # Extra weight of the onset loss at re-strikes (an onset whose pitch was already sounding in the
    # previous frame; ``losses.transcription_loss``). 1: off.
    repeat_onset_weight: float = 1.0
    # Weight, within the MI loss, of the time-domain term: thresholded SNR of the masked,
    # inverse-STFT'd stems (losses.signal_to_noise_loss). 0: the spectral term only.
    mi_snr_weight: float = 0.0
    # The spectral MI term's norm: "l1" (Chimera's) or "l2" (squared error; losses.mask_inference_loss).
    mi_loss: str = "l1"
    val_every: int = 500
    val_batches: int = 16
    log_every: int = 25
    seed: int = 0
    threads: int = 0  # 0: torch default
    # Processes that draw training batches in parallel (a torch DataLoader over the sampler; each
    # worker has its own seed). 0: the loop draws them itself, as every earlier run did.
    loader_workers: int = 0
    # Wall-clock budget of the training loop in seconds (0: none). When set, the loop stops at
    # the budget or at ``steps``, whichever comes first, and the cosine schedule follows the
    # elapsed fraction of the budget instead of the step count.
    time_budget_s: float = 0.0

    def __post_init__(self) -> None:
        if self.mi_loss not in MI_LOSS_NORMS:
            raise ValueError(f"training config: mi_loss must be {' or '.join(map(repr, MI_LOSS_NORMS))}, "
                             f"not {self.mi_loss!r}")
        if self.loader_workers < 0:
            raise ValueError(f"training config: loader_workers must be 0 or more, not {self.loader_workers}")
        if self.time_budget_s < 0:
            raise ValueError(f"training config: time_budget_s must be 0 (none) or more, not {self.time_budget_s}")


def from_dict(cls, d: dict):
    """Build a config dataclass from a dict, ignoring unknown keys (older/newer checkpoints)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def to_dict(cfg) -> dict:
    return asdict(cfg)
