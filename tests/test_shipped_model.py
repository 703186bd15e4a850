"""The shipped default model against its stored reference outputs (tests/data/default_reference.npz)."""
import json
from pathlib import Path

import numpy as np
import pytest

from stemscribe.hub import REGISTRY_FILE, WEIGHTS_DIR, sha256

REF = Path(__file__).parent / "data" / "default_reference.npz"


def test_default_model_is_registered_with_its_sha256():
    reg = json.loads(REGISTRY_FILE.read_text())
    assert "default" in reg, "no default model in the registry"
    path = WEIGHTS_DIR / reg["default"]["file"]
    assert path.stat().st_size < 50e6
    assert sha256(path) == reg["default"]["sha256"]


def test_default_model_matches_stored_reference():
    from shipped_reference import reference_outputs

    assert REF.is_file(), "run scripts/make_reference.py after shipping a model"
    ref = np.load(REF)
    got = reference_outputs("default")
    assert set(got) == set(ref.files)
    for k in ref.files:
        if k.startswith("notes_"):
            # Thresholded decisions may flip on a probability sitting at a threshold.
            assert abs(int(got[k]) - int(ref[k])) <= max(2, int(0.05 * int(ref[k]))), k
        else:
            np.testing.assert_allclose(got[k], ref[k], atol=2e-3, rtol=2e-2, err_msg=k)


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    import stemscribe.hub as hub
    from stemscribe.checkpoint import CheckpointError

    reg = json.loads(REGISTRY_FILE.read_text())
    bad = tmp_path / reg["default"]["file"]
    data = bytearray((WEIGHTS_DIR / reg["default"]["file"]).read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="damaged"):
        hub.load("default")
