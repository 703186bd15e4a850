"""Published numbers to compare against, as data (DESIGN.md, "Anchors").

Cerberus (Manilow, Seetharaman, Pardo, ICASSP 2020), Slakh2100 test set, one network trained per
instrument set. Each cell is (SDR dB, onset F1, onset+offset F1); None where the paper gives no
number (drums have no offsets). The piano+guitar network is reported as the mean of its two
instruments only, so it is stored under the "mean" key. The three-instrument set is not among
the anchors.
"""
from __future__ import annotations

from typing import NamedTuple


class PublishedCell(NamedTuple):
    """One published table cell: SDR in dB, onset F1 and onset+offset F1 (0-1); None if not given."""

    sdr: float | None
    onset_f1: float | None
    onset_offset_f1: float | None


CERBERUS_SOURCE = "Cerberus (Manilow et al., ICASSP 2020), Slakh2100 test, one network per instrument set"

# Keyed by the number of instruments in the set (classes.PAPER_SETS), then by class name.
CERBERUS: dict[int, dict[str, PublishedCell]] = {
    2: {"mean": PublishedCell(10.0, 0.73, 0.47)},
    4: {
        "piano": PublishedCell(6.1, 0.68, 0.36),
        "guitar": PublishedCell(5.8, 0.58, 0.34),
        "bass": PublishedCell(7.7, 0.89, 0.79),
        "drums": PublishedCell(11.3, 0.63, None),
    },
    5: {
        "piano": PublishedCell(3.4, 0.61, 0.28),
        "guitar": PublishedCell(3.1, 0.49, 0.22),
        "bass": PublishedCell(6.4, 0.87, 0.74),
        "drums": PublishedCell(10.6, 0.64, None),
        "strings": PublishedCell(4.1, 0.53, 0.35),
    },
}

# Multi-instrument transcription only (no separation), all Slakh2100 instruments, 60M parameters.
MT3 = {"source": "MT3 (Gardner et al., ICLR 2022), Slakh2100 test", "onset_f1": 0.76, "onset_offset_f1": 0.57}

# Speed of a peer separator on a CPU: about 1.5x the track's length (real-time factor ~0.67).
HTDEMUCS_CPU_SECONDS_PER_AUDIO_SECOND = 1.5


def cerberus_cell(n_instruments: int, name: str) -> PublishedCell | None:
    """The published Cerberus cell for a set size and class (or "mean"), None when not published."""
    return CERBERUS.get(n_instruments, {}).get(name)
