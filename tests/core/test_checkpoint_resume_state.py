"""The resume slot of a checkpoint (issue 13): extra tensors + JSON ride along, loading ignores them, hostile ones are refused."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cvstudio.core.checkpoints import (
    RESUME_METADATA_KEY,
    RESUME_PREFIX,
    load_checkpoint,
    read_meta,
    read_resume_state,
    save_checkpoint,
)
from cvstudio.core.errors import CheckpointError
from cvstudio.core.export import export_checkpoint
from tests.core.test_checkpoints import make_meta, spec, trained  # noqa: F401 - fixtures


@pytest.fixture
def resumable(tmp_path, spec, trained):  # noqa: F811
    extra = {"model.0.weight": torch.randn(3, 3), "rng.torch": torch.get_rng_state()}
    path = save_checkpoint(tmp_path / "r.safetensors", trained, make_meta(spec, status="stopped"),
                           extra_tensors=extra, extra_metadata={"format": 1, "epoch": 2, "history": []})
    return path, extra


def test_extra_tensors_and_metadata_round_trip_and_loading_ignores_them(resumable, trained):  # noqa: F811
    path, extra = resumable
    raw = load_file(str(path))
    assert {k for k in raw if k.startswith(RESUME_PREFIX)} == {RESUME_PREFIX + k for k in extra}
    tensors, state = read_resume_state(path)
    assert state == {"format": 1, "epoch": 2, "history": []}
    assert set(tensors) == set(extra) and all(torch.equal(tensors[k], extra[k]) for k in extra)
    loaded = load_checkpoint(path)
    assert set(loaded.model.state_dict()) == set(trained.state_dict())
    assert read_meta(path).status == "stopped"


def test_plain_checkpoint_has_no_resume_state(tmp_path, spec, trained):  # noqa: F811
    path = save_checkpoint(tmp_path / "p.safetensors", trained, make_meta(spec))
    assert read_resume_state(path) is None


def test_python_export_of_a_resumable_checkpoint_runs(resumable, tmp_path):
    path, _ = resumable
    report = export_checkpoint(path, "python", tmp_path / "model.py")
    assert report.max_abs_diff < 1e-4


def _rewrite(path, *, tensors=None, metadata=None):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    meta = dict(header["__metadata__"])
    meta.update(metadata or {})
    all_tensors = load_file(str(path))
    all_tensors.update(tensors or {})
    save_file(all_tensors, str(path), metadata=meta)


@pytest.mark.parametrize(
    "tensors, metadata, words",
    [
        (None, {RESUME_METADATA_KEY: "{not json"}, "not valid JSON"),
        (None, {RESUME_METADATA_KEY: "[1, 2]"}, "not a JSON object"),
        (None, {RESUME_METADATA_KEY: "[" * 100000 + "]" * 100000}, "not valid JSON"),
        ({RESUME_PREFIX + "flag": torch.ones(2, dtype=torch.bool)}, None, "bad tensor entry"),
    ],
)
def test_hostile_resume_state_is_one_plain_error(resumable, tensors, metadata, words):
    path, _ = resumable
    _rewrite(path, tensors=tensors, metadata=metadata)
    with pytest.raises(CheckpointError, match=words) as info:
        read_resume_state(path)
    assert "\n" not in str(info.value)
    load_checkpoint(path)  # the model itself still loads


def test_resume_tensors_without_their_description_are_refused(tmp_path, spec, trained):  # noqa: F811
    path = save_checkpoint(tmp_path / "t.safetensors", trained, make_meta(spec), extra_tensors={"x": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="description is missing"):
        read_resume_state(path)
