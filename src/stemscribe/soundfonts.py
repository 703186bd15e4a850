"""Where the soundfonts are, and which split may use which.

The test partition (DESIGN.md, "Data splits") renders only with MuseScore_General;
training and validation never do. That rule lives here so every caller shares it.
"""
from __future__ import annotations

import os
from pathlib import Path

SEARCH_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/sounds/sf3"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
)

# name -> (file names to look for, Debian package that installs it)
KNOWN: dict[str, tuple[tuple[str, ...], str]] = {
    "FluidR3_GM": (("FluidR3_GM.sf2",), "fluid-soundfont-gm"),
    "TimGM6mb": (("TimGM6mb.sf2",), "timgm6mb-soundfont"),
    "MuseScore_General": (("MuseScore_General.sf3", "MuseScore_General.sf2"), "musescore-general-soundfont"),
    # Csound's small GM bank (4 MB): not a training default, so that a validation set rendered with
    # it alone (``--only-soundfonts``) scores a model on a soundfont it never heard, as the test does.
    "sf_GMbank": (("sf_GMbank.sf2",), "csound-soundfont"),
}
TEST_ONLY = frozenset({"MuseScore_General"})
TRAIN_DEFAULT = ("FluidR3_GM", "TimGM6mb")


class SoundfontError(RuntimeError):
    """A soundfont is missing or not allowed for the requested split."""


def _dirs() -> list[Path]:
    extra = os.environ.get("STEMSCRIBE_SOUNDFONT_DIR")
    return ([Path(extra)] if extra else []) + list(SEARCH_DIRS)


def find_soundfont(name: str) -> Path:
    """Path of a known soundfont by name (e.g. "FluidR3_GM"), or a clear error saying what to install."""
    if name not in KNOWN:
        raise SoundfontError(f"unknown soundfont {name!r}; known: {', '.join(KNOWN)} (or pass a file path)")
    files, package = KNOWN[name]
    for d in _dirs():
        for f in files:
            if (d / f).is_file():
                return d / f
    raise SoundfontError(
        f"soundfont {name} not found in {', '.join(map(str, _dirs()))}; install it with "
        f"'apt-get install {package}' (or run 'make install')")


def soundfont_name(path: str | Path) -> str:
    """The soundfont's name as written into metadata.yaml (file name without suffix)."""
    return Path(path).stem


def check_split(split: str, names: list[str]) -> None:
    """Enforce the test-partition rule for soundfonts: raises SoundfontError when broken."""
    if split not in ("train", "validation", "test"):
        raise ValueError(f"unknown split {split!r}; use train, validation or test")
    names = [soundfont_name(n) for n in names]
    if split == "test":
        bad = [n for n in names if n not in TEST_ONLY]
        if bad:
            raise SoundfontError(f"the test split renders only with MuseScore_General, not {', '.join(bad)}")
    else:
        bad = [n for n in names if n in TEST_ONLY]
        if bad:
            raise SoundfontError(f"the {split} split may not use the test-partition soundfont {', '.join(bad)}")


def resolve_soundfont(spec: str | Path) -> Path:
    """A user's ``--soundfont``: a file path, or the name of a known soundfont (e.g. "sf_GMbank")."""
    p = Path(spec)
    if p.is_file():
        return p
    if str(spec) in KNOWN:
        return find_soundfont(str(spec))
    raise SoundfontError(f"{p}: soundfont file not found")


def soundfonts_for_split(split: str, extra: list[str | Path] | None = None, defaults: bool = True) -> list[Path]:
    """Soundfont files a split renders with: the defaults of the split plus any user files
    (paths or known names). ``defaults=False`` (train and validation only) renders with the user
    files alone, e.g. a validation set in a soundfont the training data never used."""
    if not defaults:
        if split == "test":
            raise SoundfontError("the test split renders only with MuseScore_General; --only-soundfonts is for train and validation")
        if not extra:
            raise SoundfontError("--only-soundfonts needs at least one --soundfont")
        paths = []
    elif split == "test":
        paths = [find_soundfont("MuseScore_General")]
    else:
        paths = [find_soundfont(n) for n in TRAIN_DEFAULT]
    for p in extra or []:
        paths.append(resolve_soundfont(p))
    check_split(split, [str(p) for p in paths])
    return paths
