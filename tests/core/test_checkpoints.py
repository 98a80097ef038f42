"""Checkpoints: round trips, atomic saving, and every way a file can be bad."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import cvstudio
from cvstudio.core.checkpoints import (
    FORMAT_VERSION,
    CheckpointMeta,
    import_state_dict,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from cvstudio.core.errors import CheckpointError
from cvstudio.core.models.builder import build_model
from cvstudio.core.models.presets import get_preset
from cvstudio.core.specs import DataConfig, LayerSpec, ModelSpec, TrainConfig

SHAPE = (3, 16, 16)
CLASSES = ("cat", "dog", "frog")
REPO = Path(__file__).resolve().parents[2]


def make_meta(spec: ModelSpec, **overrides) -> CheckpointMeta:
    kw = dict(
        model_spec=spec,
        class_names=CLASSES,
        input_shape=SHAPE,
        mean=(0.5, 0.4, 0.3),
        std=(0.25, 0.2, 0.2),
        train_config=TrainConfig(optimizer="adam", lr=1e-3, epochs=2),
        data_config=DataConfig(source="shapes", classes=CLASSES),
        dataset="shapes: cat, dog, frog",
        metrics={"train_acc": 0.9, "val_acc": 0.8, "val_loss": 0.45},
        history=[
            {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 0.9, "val_acc": 0.6},
            {"epoch": 2, "train_loss": 0.5, "train_acc": 0.9, "val_loss": 0.45, "val_acc": 0.8},
        ],
        status="early_stopped",
    )
    kw.update(overrides)
    return CheckpointMeta(**kw)


@pytest.fixture
def spec() -> ModelSpec:
    return get_preset("convnet-batchnorm", width=4)  # has BatchNorm buffers (int64 num_batches_tracked)


@pytest.fixture
def trained(spec):
    """A model whose weights and BatchNorm statistics differ from a fresh build."""
    torch.manual_seed(0)
    model = build_model(spec, SHAPE, len(CLASSES))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(2):
        loss = model(torch.randn(8, *SHAPE)).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture
def ckpt(tmp_path, spec, trained) -> Path:
    return save_checkpoint(tmp_path / "run.safetensors", trained, make_meta(spec))


def rewrite(src: Path, dst: Path, *, tensors=None, meta_dict=None, metadata=None) -> Path:
    """Write a variant of ``src`` with changed tensors and/or metadata."""
    t = load_file(str(src)) if tensors is None else tensors
    if metadata is None:
        d = read_meta(src).to_dict() if meta_dict is None else meta_dict
        metadata = {"cvstudio": json.dumps(d)}
    save_file(t, str(dst), metadata=metadata)
    return dst


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckpointError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# --- round trips -------------------------------------------------------------------


def test_round_trip_gives_identical_outputs(ckpt, trained, spec):
    loaded = load_checkpoint(ckpt)
    assert not loaded.model.training
    assert loaded.path == ckpt
    x = torch.randn(5, *SHAPE)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), trained(x))
    for (n1, t1), (n2, t2) in zip(trained.state_dict().items(), loaded.model.state_dict().items()):
        assert n1 == n2 and t1.dtype == t2.dtype and torch.equal(t1, t2)
    assert loaded.meta == make_meta(spec, created=loaded.meta.created)


def test_metadata_round_trip_and_read_meta(ckpt, spec):
    meta = read_meta(ckpt)
    assert meta.model_spec == spec
    assert meta.class_names == CLASSES and meta.input_shape == SHAPE
    assert meta.train_config == TrainConfig(optimizer="adam", lr=1e-3, epochs=2)
    assert meta.data_config == DataConfig(source="shapes", classes=CLASSES)
    assert meta.metrics["val_acc"] == 0.8 and meta.history[1]["epoch"] == 2
    assert meta.status == "early_stopped" and meta.format_version == FORMAT_VERSION
    assert meta.app_version == cvstudio.__version__
    assert meta.created.endswith("+00:00")
    again = CheckpointMeta.from_dict(json.loads(json.dumps(meta.to_dict())))
    assert again == meta
    # Optional parts may be absent.
    bare = CheckpointMeta(spec, ("a", "b"), (1, 8, 8), (0.5,), (0.5,))
    assert CheckpointMeta.from_dict(bare.to_dict()) == bare
    assert bare.train_config is None and bare.status == "finished"


def test_saved_file_is_plain_safetensors_with_json(ckpt):
    from safetensors import safe_open

    with safe_open(str(ckpt), "pt") as f:
        meta = json.loads(f.metadata()["cvstudio"])
        assert meta["format_version"] == FORMAT_VERSION
        assert f.get_tensor("bn1.num_batches_tracked").dtype == torch.int64


def test_channels_last_and_compiled_wrapper_models_save(tmp_path, spec, trained):
    trained = trained.to(memory_format=torch.channels_last)

    class Wrapped(torch.nn.Module):  # what torch.compile returns keeps the model in _orig_mod
        def __init__(self, m):
            super().__init__()
            self._orig_mod = m

    p = save_checkpoint(tmp_path / "a" / "b" / "c.safetensors", Wrapped(trained), make_meta(spec))
    assert set(load_file(str(p))) == set(trained.state_dict())
    load_checkpoint(p)


def test_diverged_run_with_nan_metrics_saves(tmp_path, spec, trained):
    meta = make_meta(spec, status="diverged", metrics={"val_loss": float("nan"), "val_acc": None},
                     history=[{"epoch": 1, "train_loss": float("inf"), "val_acc": None}])
    back = read_meta(save_checkpoint(tmp_path / "d.safetensors", trained, meta))
    assert back.status == "diverged" and back.metrics["val_loss"] != back.metrics["val_loss"]
    assert back.history[0]["train_loss"] == float("inf")


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(mean=(0.5, 0.5)), "mean has 2 values"),
        (dict(std=(0.2, 0.0, 0.2)), "std must be positive"),
        (dict(class_names=("only",)), "at least 2 classes"),
        (dict(class_names=("a", "a", "b")), "unique"),
        (dict(input_shape=(3, 16)), "input_shape"),
        (dict(input_shape=(2, 16, 16), mean=(0.1, 0.1), std=(1.0, 1.0)), "1 or 3 channels"),
        (dict(metrics={"val_acc": "high"}), "metric"),
        (dict(history=[[1, 2]]), "history entry 1"),
        (dict(created="yesterday"), "ISO 8601"),
    ],
)
def test_meta_validation(spec, change, words):
    assert words in error_of(make_meta, spec, **change)


def test_from_dict_validation(spec):
    good = make_meta(spec).to_dict()
    for key in ("model_spec", "class_names", "input_shape"):
        d = dict(good)
        del d[key]
        assert key in error_of(CheckpointMeta.from_dict, d)
    assert "format_version" in error_of(CheckpointMeta.from_dict, {**good, "format_version": "1"})
    assert "training settings" in error_of(CheckpointMeta.from_dict, {**good, "train_config": {"lr": -1}})
    assert "data settings" in error_of(CheckpointMeta.from_dict, {**good, "data_config": {"nope": 1}})
    assert "newer CV Studio" in error_of(CheckpointMeta.from_dict, {**good, "format_version": FORMAT_VERSION + 1})
    assert "JSON" in error_of(CheckpointMeta.from_json, "{not json")


# --- atomic saving -------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "run.safetensors")


def test_failed_save_keeps_old_file_and_leaves_no_temp(ckpt, trained, spec, monkeypatch):
    before = ckpt.read_bytes()

    def disk_full(*a):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    msg = error_of(save_checkpoint, ckpt, trained, make_meta(spec, status="finished"))
    assert msg == f"could not save checkpoint to {ckpt}: No space left on device"
    assert ckpt.read_bytes() == before and leftovers(ckpt.parent) == []

    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", disk_full)
    error_of(save_checkpoint, ckpt, trained, make_meta(spec, status="finished"))
    assert ckpt.read_bytes() == before and leftovers(ckpt.parent) == []

    def interrupted(*a):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(ckpt, trained, make_meta(spec, status="finished"))
    assert ckpt.read_bytes() == before and leftovers(ckpt.parent) == []


def test_unwritable_folder_is_a_plain_error(tmp_path, trained, spec):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    msg = error_of(save_checkpoint, blocker / "sub" / "run.safetensors", trained, make_meta(spec))
    assert msg.startswith("could not save checkpoint to")


def test_process_killed_mid_save_leaves_old_checkpoint(ckpt):
    """A real process, killed while its new file is written but not yet renamed."""
    before = ckpt.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from cvstudio.core import checkpoints as c
        meta = c.read_meta({str(ckpt)!r})
        model = c.load_checkpoint({str(ckpt)!r}).model
        for p in model.parameters():
            p.data.fill_(7.0)
        real_fsync = os.fsync
        def stall(fd):
            real_fsync(fd)
            print("written", flush=True)
            time.sleep(60)
        os.fsync = stall
        c.save_checkpoint({str(ckpt)!r}, model, meta)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "written", proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert ckpt.read_bytes() == before
    load_checkpoint(ckpt)
    # What the dead process left is a hidden temp file that no *.safetensors listing picks up.
    for name in leftovers(ckpt.parent):
        assert name.startswith(".") and name.endswith(".tmp")
    assert [p.name for p in ckpt.parent.glob("*.safetensors")] == ["run.safetensors"]


# --- malformed files -----------------------------------------------------------------


def test_missing_empty_and_folder(tmp_path):
    assert "not found" in error_of(load_checkpoint, tmp_path / "nope.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    assert "empty" in error_of(read_meta, tmp_path / "empty.safetensors")
    assert "folder" in error_of(load_checkpoint, tmp_path)


def test_truncated_file(ckpt, tmp_path):
    data = ckpt.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 100])
    assert "truncated" in error_of(load_checkpoint, cut)
    assert "truncated" in error_of(read_meta, cut)  # listing runs shows it as damaged too
    cut.write_bytes(data[:200])  # inside the header
    assert "truncated" in error_of(load_checkpoint, cut)
    cut.write_bytes(data[:5])
    assert "not a safetensors" in error_of(read_meta, cut)


def test_garbage_and_foreign_files(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes((20).to_bytes(8, "little") + b"this is not json at!")
    assert "not valid JSON" in error_of(load_checkpoint, p)
    p.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    assert "not a safetensors" in error_of(load_checkpoint, p)
    p.write_bytes((4096).to_bytes(8, "little") + b'{"a": 1}')
    assert "header needs 4096 bytes" in error_of(load_checkpoint, p)
    p.write_bytes(b"PK\x03\x04" + os.urandom(200))  # e.g. a .pt zip renamed
    assert "not a safetensors" in error_of(read_meta, p)
    p.write_bytes((8).to_bytes(8, "little") + b'[1,2,3] ')
    assert "not a JSON object" in error_of(read_meta, p)


def test_safetensors_without_our_metadata(tmp_path, trained):
    p = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(p))
    assert "no CV Studio metadata" in error_of(load_checkpoint, p)
    save_file({"w": torch.zeros(2)}, str(p), metadata={"cvstudio": "{oops"})
    assert "not valid JSON" in error_of(read_meta, p)


def test_bad_tensor_entry_in_header(tmp_path):
    header = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}
    raw = json.dumps(header).encode()
    p = tmp_path / "bad.safetensors"
    p.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(16))
    assert "size does not match its shape" in error_of(read_meta, p)


def test_wrong_tensor_shape_is_named(ckpt, tmp_path):
    t = load_file(str(ckpt))
    t["conv1.weight"] = torch.zeros(4, 3, 5, 5)
    msg = error_of(load_checkpoint, rewrite(ckpt, tmp_path / "bad.safetensors", tensors=t))
    assert "'conv1.weight'" in msg and "(4, 3, 5, 5)" in msg and "(4, 3, 3, 3)" in msg


def test_missing_and_unexpected_tensors(ckpt, tmp_path):
    t = load_file(str(ckpt))
    del t["fc2.bias"]
    assert "missing tensors fc2.bias" in error_of(load_checkpoint, rewrite(ckpt, tmp_path / "a.safetensors", tensors=t))
    t = load_file(str(ckpt))
    t["extra.weight"] = torch.zeros(3)
    assert "unexpected tensors extra.weight" in error_of(
        load_checkpoint, rewrite(ckpt, tmp_path / "b.safetensors", tensors=t)
    )


def test_unknown_layer_type(ckpt, tmp_path):
    d = read_meta(ckpt).to_dict()
    d["model_spec"]["layers"][0]["kind"] = "warp"
    msg = error_of(load_checkpoint, rewrite(ckpt, tmp_path / "a.safetensors", meta_dict=d))
    assert "unknown layer type 'warp'" in msg
    assert "unknown layer type" in error_of(read_meta, tmp_path / "a.safetensors")


def test_spec_that_does_not_build_for_the_input(ckpt, tmp_path):
    d = read_meta(ckpt).to_dict()
    d["input_shape"] = [3, 2, 2]
    msg = error_of(load_checkpoint, rewrite(ckpt, tmp_path / "a.safetensors", meta_dict=d))
    assert "does not build for 3x2x2 inputs" in msg


def test_class_count_must_match_final_layer(ckpt, tmp_path):
    d = read_meta(ckpt).to_dict()
    d["class_names"] = ["a", "b"]
    msg = error_of(load_checkpoint, rewrite(ckpt, tmp_path / "a.safetensors", meta_dict=d))
    assert "'fc2.weight'" in msg and "final layer has 3 outputs but there are 2 class names" in msg
    # A spec whose last layer has a fixed size that disagrees with the class names.
    d = read_meta(ckpt).to_dict()
    d["model_spec"]["layers"][-1]["out"] = 5
    msg = error_of(load_checkpoint, rewrite(ckpt, tmp_path / "b.safetensors", meta_dict=d))
    assert "does not build" in msg and "(3)" in msg and "outputs 5" in msg


def test_newer_format_version(ckpt, tmp_path):
    d = read_meta(ckpt).to_dict()
    d["format_version"] = FORMAT_VERSION + 1
    d["something_new"] = {"x": 1}
    p = rewrite(ckpt, tmp_path / "new.safetensors", meta_dict=d)
    assert "made by a newer CV Studio" in error_of(load_checkpoint, p)
    assert "made by a newer CV Studio" in error_of(read_meta, p)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_plain_error(ckpt):
    assert "cannot use device 'cuda'" in error_of(load_checkpoint, ckpt, device="cuda")


# --- importing a .pt state_dict ----------------------------------------------------


class Evil:
    """A pickle that creates a file when unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_malicious_pickle_is_refused(tmp_path, spec):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Evil(probe)))  # the payload really runs code ...
    assert probe.exists()

    marker = tmp_path / "pwned"
    zipped = tmp_path / "evil.pt"
    torch.save({"conv1.weight": Evil(marker)}, zipped)
    legacy = tmp_path / "evil_legacy.pt"
    legacy.write_bytes(pickle.dumps(Evil(marker)))
    for f in (zipped, legacy):
        msg = error_of(import_state_dict, f, spec, SHAPE, CLASSES, (0.5,) * 3, (0.25,) * 3)
        assert "is not a plain state_dict" in msg
    assert not marker.exists()  # ... but importing never ran it


def test_import_state_dict(tmp_path, spec, trained):
    sd = trained.state_dict()
    variants = {
        "plain.pt": sd,
        "wrapped.pt": {"epoch": 3, "state_dict": sd},
        "dataparallel.pt": {f"module.{k}": v for k, v in sd.items()},
    }
    x = torch.randn(2, *SHAPE)
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
        loaded = import_state_dict(tmp_path / name, spec, SHAPE, CLASSES, (0.5,) * 3, (0.25,) * 3)
        with torch.no_grad():
            assert torch.equal(loaded.model(x), trained(x)), name
        assert loaded.meta.status == "imported" and loaded.meta.class_names == CLASSES
    # The imported model saves as a normal checkpoint.
    out = save_checkpoint(tmp_path / "imported.safetensors", loaded.model, loaded.meta)
    assert read_meta(out).dataset == "imported from dataparallel.pt"


def test_import_rejects_non_state_dicts(tmp_path, spec, trained):
    args = (spec, SHAPE, CLASSES, (0.5,) * 3, (0.25,) * 3)
    cases = {
        "list.pt": [torch.zeros(2)],
        "mixed.pt": {"conv1.weight": torch.zeros(2), "note": "hello"},
        "empty.pt": {},
    }
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        assert "not a plain state_dict" in error_of(import_state_dict, tmp_path / name, *args)
    (tmp_path / "text.pt").write_text("hello")
    assert "could not be read as a PyTorch file" in error_of(import_state_dict, tmp_path / "text.pt", *args)
    assert "not found" in error_of(import_state_dict, tmp_path / "missing.pt", *args)
    sd = dict(trained.state_dict())
    sd["fc1.weight"] = sd["fc1.weight"][:, :10]
    torch.save(sd, tmp_path / "shape.pt")
    assert "'fc1.weight'" in error_of(import_state_dict, tmp_path / "shape.pt", *args)


def test_no_unsafe_loading_anywhere_in_the_package():
    banned = ["pickle" + ".load(", "weights_only" + "=False", "torch.jit" + ".load("]
    for path in (REPO / "cvstudio").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in banned:
            assert word not in text, f"{path}: {word}"
