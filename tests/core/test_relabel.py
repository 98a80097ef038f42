"""Per-image file paths of folder datasets, and moving a mislabelled image to another class folder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from cvstudio.core.data import load_dataset
from cvstudio.core.data import relabel
from cvstudio.core.data.relabel import Move, class_folders, move_to_class, undo_move
from cvstudio.core.errors import DataError
from cvstudio.core.specs import DataConfig

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


def save(path: Path, colour) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), colour).save(path)
    return path


def make_layout(root: Path) -> None:
    for split, n in (("train", 4), ("val", 2)):
        for name, colour in (("cat", RED), ("dog", GREEN), ("eel", BLUE)):
            for i in range(n):
                save(root / split / name / f"{name}{i}.png", colour)


def test_folder_splits_name_the_file_of_every_image(tmp_path):
    make_layout(tmp_path)
    bundle = load_dataset(DataConfig(source=str(tmp_path), classes=("eel", "cat"), image_size=12))
    for part, split in ((bundle.train, "train"), (bundle.val, "val")):
        assert part.paths is not None and len(part.paths) == len(part)
        for path, label, image in zip(part.paths, part.labels.tolist(), part.images):
            p = Path(path)
            assert p.is_absolute() and p.parent.parent.name == split
            assert p.parent.name == bundle.class_names[label]
            # the pixels are those of that file: red for cat, blue for eel
            channel = {"cat": 0, "eel": 2}[p.parent.name]
            assert int(image[channel].min()) > 150
    # a split by fraction keeps the pairing too
    flat = tmp_path / "flat"
    for name, colour in (("a", RED), ("b", GREEN)):
        for i in range(5):
            save(flat / name / f"{i}.png", colour)
    bundle = load_dataset(DataConfig(source=str(flat), val_fraction=0.4, image_size=12))
    assert sorted(bundle.train.paths + bundle.val.paths) == sorted(str(p) for p in flat.rglob("*.png"))
    for path, label in zip(bundle.val.paths, bundle.val.labels.tolist()):
        assert Path(path).parent.name == bundle.class_names[label]


def test_built_in_sources_have_no_paths():
    bundle = load_dataset(DataConfig(source="shapes"))
    assert bundle.train.paths is None and bundle.val.paths is None


def test_move_to_class_and_undo(tmp_path):
    make_layout(tmp_path)
    src = tmp_path / "val" / "cat" / "cat0.png"
    assert class_folders(src) == ["cat", "dog", "eel"]
    move = move_to_class(src, "dog", dataset_root=tmp_path)
    assert move == Move(str(src), str(tmp_path / "val" / "dog" / "cat0.png"), "cat", "dog")
    assert not src.exists() and Path(move.destination).is_file()
    back = undo_move(move)
    assert src.is_file() and not Path(move.destination).exists()
    assert back.source == move.destination and back.destination == move.source and back.to_class == "cat"


def test_move_never_overwrites_and_picks_a_free_name(tmp_path):
    make_layout(tmp_path)
    taken = save(tmp_path / "train" / "dog" / "cat0.png", GREEN)
    save(tmp_path / "train" / "dog" / "cat0-1.png", GREEN)
    before = taken.read_bytes()
    move = move_to_class(tmp_path / "train" / "cat" / "cat0.png", "dog")
    assert Path(move.destination).name == "cat0-2.png"
    assert taken.read_bytes() == before
    # undo refuses when the original name was taken again meanwhile
    save(tmp_path / "train" / "cat" / "cat0.png", RED)
    with pytest.raises(DataError, match="exists again"):
        undo_move(move)
    assert Path(move.destination).is_file()


@pytest.mark.parametrize(
    "name, message",
    [("../../evil", "not a class folder name"), ("..", "not a class folder name"), ("", "not a class folder name"),
     (".hidden", "not a class folder name"), ("cow", "no class folder 'cow'"), ("cat", "already in class")],
)
def test_bad_targets_are_refused_with_one_line(tmp_path, name, message):
    make_layout(tmp_path)
    src = tmp_path / "val" / "cat" / "cat1.png"
    with pytest.raises(DataError, match=message) as info:
        move_to_class(src, name)
    assert "\n" not in str(info.value)
    assert src.is_file()


def test_files_outside_the_dataset_or_gone_are_refused(tmp_path):
    make_layout(tmp_path / "data")
    outside = save(tmp_path / "other" / "cat" / "x.png", RED)
    (tmp_path / "other" / "dog").mkdir()
    with pytest.raises(DataError, match="not inside the dataset folder"):
        move_to_class(outside, "dog", dataset_root=tmp_path / "data")
    assert outside.is_file()
    with pytest.raises(DataError, match="no longer there"):
        move_to_class(tmp_path / "data" / "val" / "cat" / "missing.png", "dog")


def test_read_only_folders_give_one_line_and_move_nothing(tmp_path, monkeypatch):
    make_layout(tmp_path)
    src = tmp_path / "val" / "cat" / "cat0.png"

    def refuse_link(a, b):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(relabel.os, "link", refuse_link)
    with pytest.raises(DataError, match="read-only") as info:
        move_to_class(src, "dog")
    assert "\n" not in str(info.value)
    assert src.is_file() and not (tmp_path / "val" / "dog" / "cat0.png").exists()
    monkeypatch.undo()

    # the link works but the source folder refuses the unlink: the copy is removed again
    real_unlink = os.unlink

    def refuse_unlink(path, *a, **k):
        if Path(path) == src:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(relabel.os, "unlink", refuse_unlink)
    with pytest.raises(DataError, match="read-only"):
        move_to_class(src, "dog")
    assert src.is_file() and not (tmp_path / "val" / "dog" / "cat0.png").exists()


def test_file_systems_without_hard_links_still_move(tmp_path, monkeypatch):
    make_layout(tmp_path)

    def no_links(a, b):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(relabel.os, "link", no_links)
    save(tmp_path / "val" / "dog" / "cat0.png", GREEN)
    move = move_to_class(tmp_path / "val" / "cat" / "cat0.png", "dog")
    assert Path(move.destination).name == "cat0-1.png" and Path(move.destination).is_file()


def test_the_dataset_cache_notices_a_moved_file(tmp_path):
    make_layout(tmp_path)
    config = DataConfig(source=str(tmp_path), classes=("cat", "dog"), image_size=12)
    first = load_dataset(config)
    assert first.val.class_counts(2) == [2, 2]
    move = move_to_class(tmp_path / "val" / "cat" / "cat1.png", "dog", dataset_root=tmp_path)
    second = load_dataset(config)
    assert second.val.class_counts(2) == [1, 3]
    i = second.val.paths.index(move.destination)
    assert int(second.val.labels[i]) == 1  # now a dog
    assert int(second.val.images[i][0].min()) > 150  # still the red image that was mislabelled
    undo_move(move)
    assert load_dataset(config).val.class_counts(2) == [2, 2]
    assert torch.equal(load_dataset(config).val.images, first.val.images)
