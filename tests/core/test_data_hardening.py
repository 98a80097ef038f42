"""Folder datasets against hostile layouts: link loops, decompression bombs, FIFOs, in-place edits."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from cvstudio.core import images
from cvstudio.core.data import folders, load_dataset
from cvstudio.core.specs import DataConfig


def make_classes(root: Path, n: int = 4) -> None:
    for k, name in enumerate(("a", "b")):
        for i in range(n):
            p = root / name / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (12, 12), (200 * k, 60, 40 * i)).save(p)


@pytest.mark.parametrize("target", ["root", "parent"])
def test_link_back_to_the_root_or_above_is_skipped_not_a_class(tmp_path, target):
    root = tmp_path / "data"
    make_classes(root)
    os.symlink(root if target == "root" else tmp_path, root / "loop")
    os.symlink(root, root / "a" / "inner-loop")  # inside a class folder: links to folders are not followed
    bundle = load_dataset(DataConfig(source=str(root)))
    assert bundle.class_names == ("a", "b")
    assert len(bundle.train) + len(bundle.val) == 8  # no duplicated images
    (warning,) = [w for w in bundle.warnings if "loop" in w]
    assert "loop ->" in warning and "skipped 1 linked folder" in warning


def test_linked_class_folder_elsewhere_still_counts(tmp_path):
    make_classes(tmp_path / "elsewhere")
    root = tmp_path / "data"
    make_classes(root)
    os.symlink(tmp_path / "elsewhere" / "a", root / "c")
    assert load_dataset(DataConfig(source=str(root))).class_names == ("a", "b", "c")


def test_decompression_bomb_is_a_named_skipped_file_with_the_classify_limit(tmp_path):
    make_classes(tmp_path)
    side = int(images.MAX_IMAGE_PIXELS**0.5) + 2  # just over the limit; mode "1" keeps it ~11 MB in memory
    Image.new("1", (side, side)).save(tmp_path / "b" / "huge.png")
    Image.new("1", (2 * side, side)).save(tmp_path / "b" / "huger.png")  # over twice: Pillow itself refuses
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # never Pillow's raw warning
        bundle = load_dataset(DataConfig(source=str(tmp_path)))
    assert len(bundle.train) + len(bundle.val) == 8
    (warning,) = bundle.warnings
    assert f"b{os.sep}huge.png (image is too large ({side * side} pixels; limit {images.MAX_IMAGE_PIXELS}))" in warning
    assert f"b{os.sep}huger.png (image is too large ({2 * side * side} pixels;" in warning

    # classify refuses the same file with the same limit
    inference = pytest.importorskip("cvstudio.core.inference")
    assert Image.MAX_IMAGE_PIXELS == images.MAX_IMAGE_PIXELS
    from cvstudio.core.errors import ImageError

    with pytest.raises(ImageError, match=f"limit {images.MAX_IMAGE_PIXELS}"):
        inference.decode_image(tmp_path / "b" / "huge.png", (3, 32, 32))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_not_a_regular_file_and_never_blocks(tmp_path):
    make_classes(tmp_path)
    os.mkfifo(tmp_path / "a" / "pipe.png")
    result = {}
    worker = threading.Thread(target=lambda: result.update(b=load_dataset(DataConfig(source=str(tmp_path)))))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "loading blocked on the FIFO"
    (warning,) = result["b"].warnings
    assert f"a{os.sep}pipe.png (not a regular file)" in warning and "empty" not in warning
    # and if a FIFO appears after listing, reading it is refused at once, not blocked on
    with pytest.raises(Exception, match="not a regular file"):
        folders.read_file(str(tmp_path / "a" / "pipe.png"))


def test_in_place_edit_with_same_size_and_mtime_is_seen(tmp_path):
    make_classes(tmp_path)
    path = tmp_path / "b" / "edited.bmp"  # uncompressed: another colour, the very same size
    Image.new("RGB", (12, 12), (255, 0, 0)).save(path)
    before = path.stat()
    first = load_dataset(DataConfig(source=str(tmp_path), val_fraction=0.01))
    Image.new("RGB", (12, 12), (0, 255, 0)).save(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as a tool that restores the mtime would
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    second = load_dataset(DataConfig(source=str(tmp_path), val_fraction=0.01))

    def edited(bundle):  # the only pure red or green image
        imgs = torch.cat([bundle.train.images, bundle.val.images])
        (i,) = [i for i in range(len(imgs)) if int(imgs[i, 2].max()) == 0 and int(imgs[i, 1].min()) in (0, 255)]
        return imgs[i, :, 0, 0].tolist()

    assert edited(first) == [255, 0, 0]
    assert edited(second) == [0, 255, 0]  # the ctime in the key saw the edit: decoded again
