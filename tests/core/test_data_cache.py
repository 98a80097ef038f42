"""The decoded-dataset cache: hits, stale keys, damage, failed writes, progress."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from cvstudio.core.data import cache, folders, load_dataset, shapes
from cvstudio.core.data.cache import cache_folder
from cvstudio.core.specs import DataConfig


class Recorder:
    def __init__(self):
        self.events = []

    def on_progress(self, event):
        self.events.append(event)

    def stages(self):
        return [e.stage for e in self.events]


@pytest.fixture
def small_shapes(monkeypatch):
    monkeypatch.setattr(shapes, "TRAIN_SIZE", 60)
    monkeypatch.setattr(shapes, "VAL_SIZE", 30)


def forbid(monkeypatch, module, name):
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} called although the cache should have been used")

    monkeypatch.setattr(module, name, fail)


def cached_files() -> list[Path]:
    return sorted(cache_folder().glob("*.safetensors"))


def same_bundle(a, b):
    return (
        torch.equal(a.train.images, b.train.images)
        and torch.equal(a.train.labels, b.train.labels)
        and torch.equal(a.val.images, b.val.images)
        and torch.equal(a.val.labels, b.val.labels)
        and a.class_names == b.class_names
        and a.mean == b.mean
        and a.std == b.std
    )


def test_second_load_comes_from_cache(small_shapes, monkeypatch):
    rec = Recorder()
    first = load_dataset(DataConfig(seed=4), [rec])
    assert {"cache", "decode", "stats"} <= set(rec.stages())
    files = cached_files()
    assert len(files) == 1
    forbid(monkeypatch, shapes, "generate_shapes")
    rec2 = Recorder()
    second = load_dataset(DataConfig(seed=4), [rec2])
    assert same_bundle(first, second)
    assert "decode" not in rec2.stages()
    assert rec2.events[-1].message == "loaded from cache"
    # a subset is cut from the cached copy too
    sub = load_dataset(DataConfig(seed=4, classes=("ring", "bar")))
    assert sub.class_names == ("ring", "bar")


def test_other_settings_do_not_share_a_cache_entry(small_shapes):
    load_dataset(DataConfig(seed=1))
    load_dataset(DataConfig(seed=2))
    b = load_dataset(DataConfig(seed=1, image_size=16))
    assert len(cached_files()) == 3 and b.input_shape == (3, 16, 16)


def test_cache_file_holds_no_pickle_and_documents_itself(small_shapes):
    load_dataset(DataConfig())
    (path,) = cached_files()
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == {"train_images", "train_labels", "val_images", "val_labels"}
        meta = json.loads(f.metadata()["cvstudio_dataset"])
    assert meta["format"] == cache.FORMAT_VERSION
    assert meta["class_names"] == list(shapes.CLASS_NAMES)
    assert set(meta["crc32"]) == {"train_images", "train_labels", "val_images", "val_labels"}
    assert len(meta["key"]) == 64


def _damage_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_garbage(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def _damage_flip_data_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the last tensor's data, header intact
    path.write_bytes(bytes(data))


def _damage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:12] = b"{{{{"
    path.write_bytes(bytes(data))


def _damage_empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "damage", [_damage_truncate, _damage_garbage, _damage_flip_data_byte, _damage_header, _damage_empty]
)
def test_damaged_cache_is_rebuilt(small_shapes, monkeypatch, damage):
    first = load_dataset(DataConfig())
    (path,) = cached_files()
    damage(path)
    calls = []
    real = shapes.generate_shapes
    monkeypatch.setattr(shapes, "generate_shapes", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = load_dataset(DataConfig())
    assert calls == [1]  # decoded again
    assert same_bundle(first, again)
    assert cache.load_cached(path, _key_of(path)) is not None  # rewritten, intact
    forbid(monkeypatch, shapes, "generate_shapes")
    assert same_bundle(first, load_dataset(DataConfig()))


def _key_of(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["cvstudio_dataset"])["key"]


def test_wrong_labels_in_cache_are_not_trusted(small_shapes, tmp_path):
    load_dataset(DataConfig())
    (path,) = cached_files()
    key = _key_of(path)
    good = cache.load_cached(path, key)
    assert good is not None
    bad = cache.DecodedSource(
        good.train_images, good.train_labels + 100, good.val_images, good.val_labels, good.class_names
    )
    assert cache.save_cached(path, key, bad) is None
    assert cache.load_cached(path, key) is None  # labels out of range
    assert cache.load_cached(path, "another key") is None


def make_folder(root: Path, n: int = 4) -> None:
    for k, name in enumerate(("a", "b")):
        for i in range(n):
            p = root / name / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (10, 10), (k * 200, 50, i * 40)).save(p)


def test_folder_cache_hit_and_stale_key(tmp_path, monkeypatch):
    data = tmp_path / "data"
    make_folder(data)
    first = load_dataset(DataConfig(source=str(data)))
    assert len(cached_files()) == 2  # one entry per class folder
    real = folders.decode_files
    forbid(monkeypatch, folders, "decode_files")
    assert same_bundle(first, load_dataset(DataConfig(source=str(data))))

    # a file changes: that class's entry gets a new key -> only that class is decoded again, in place
    changed = data / "b" / "0.png"
    Image.new("RGB", (10, 10), (255, 255, 255)).save(changed)
    future = time.time() + 10
    os.utime(changed, (future, future))
    calls = []
    monkeypatch.setattr(folders, "decode_files", lambda files, *a, **k: calls.append(files) or real(files, *a, **k))
    second = load_dataset(DataConfig(source=str(data)))
    assert [sorted({Path(p).parent.name for p, _ in files}) for files in calls] == [["b"]]
    assert not same_bundle(first, second)
    assert len(cached_files()) == 2

    # a file is added to class a: only class a is decoded again
    Image.new("RGB", (10, 10)).save(data / "a" / "new.png")
    calls.clear()
    third = load_dataset(DataConfig(source=str(data)))
    assert [sorted({Path(p).parent.name for p, _ in files}) for files in calls] == [["a"]]
    assert len(third.train) + len(third.val) == 9


def test_failed_cache_write_is_only_a_warning(small_shapes, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setattr(cache, "cache_folder", lambda: blocker / "datasets")
    bundle = load_dataset(DataConfig())
    assert len(bundle.train) == 60
    assert len(bundle.warnings) == 1 and "could not save the decoded dataset in the cache" in bundle.warnings[0]
    assert list(tmp_path.iterdir()) == [blocker]


def test_failed_write_leaves_no_temporary_file(small_shapes, monkeypatch):
    import safetensors.torch

    def disk_full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    bundle = load_dataset(DataConfig())
    assert "No space left on device" in bundle.warnings[0]
    assert list(cache_folder().iterdir()) == []


def test_progress_events_are_few(small_shapes, monkeypatch):
    monkeypatch.setattr(shapes, "TRAIN_SIZE", 3000)
    rec = Recorder()
    load_dataset(DataConfig(), [rec])
    assert len(rec.events) < 40
    decode = [e for e in rec.events if e.stage == "decode"]
    assert decode[-1].done == decode[-1].total == 3030


def test_class_digest_depends_on_every_path_and_number_of_its_class_only():
    root = Path("/data")

    def digest(files: dict[str, tuple[int, int, int]], other_class: str = "b/0.png", val: bool = False) -> str:
        train = [(f"/data/{name}", 0) for name in files] + [(f"/data/{other_class}", 1)]
        stats = {f"/data/{name}": st for name, st in files.items()} | {f"/data/{other_class}": (1, 1, 1)}
        scan = folders.FolderScan(
            root, ("a", "b"), [] if val else train, train if val else None, root, root if val else None, stats=stats
        )
        return scan.class_digest(0)

    base = digest({"a/0.png": (10, 20, 30), "a/1.png": (11, 21, 31)})
    assert base == digest({"a/0.png": (10, 20, 30), "a/1.png": (11, 21, 31)}, other_class="b/9.png")
    variants = [
        {"a/0.png": (10, 20, 30), "a/2.png": (11, 21, 31)},  # a file renamed, its numbers unchanged
        {"a/0.png": (10, 20, 30), "a/1.png": (12, 21, 31)},  # size
        {"a/0.png": (10, 20, 30), "a/1.png": (11, 22, 31)},  # modification time
        {"a/0.png": (10, 20, 30), "a/1.png": (11, 21, 32)},  # status-change time
        {"a/0.png": (10, 20, 30)},  # a file removed
        {"a/0.png\0a/1.png": (10, 20, 30)},  # two names run together
    ]
    assert len({base, *(digest(v) for v in variants)}) == len(variants) + 1
    assert digest({"a/0.png": (10, 20, 30), "a/1.png": (11, 21, 31)}, val=True) != base  # the same files as validation
