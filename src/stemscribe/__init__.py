"""stemscribe: stems, MIDI and activity for every instrument, from one jointly trained network."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Separator", "SeparationResult", "__version__"]


def __getattr__(name: str):
    # The public API imports torch; load it lazily so `import stemscribe` and `--help` stay instant.
    if name in ("Separator", "SeparationResult"):
        from . import separator

        return getattr(separator, name)
    raise AttributeError(name)
