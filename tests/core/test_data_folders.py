"""Image folders: layouts, splits, image modes, damaged files and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cvstudio.core.data import available_classes, load_dataset
from cvstudio.core.data.folders import decode_image, scan_folder, split_by_fraction
from cvstudio.core.errors import DataError
from cvstudio.core.specs import DataConfig


def save(path: Path, colour=(255, 0, 0), size=(20, 14), mode="RGB", fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, format=fmt)
    return path


def make_classes(root: Path, counts: dict[str, int], ext: str = "png") -> None:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            save(root / name / f"img{i:03d}.{ext}", colours[k % len(colours)])


def test_unsplit_folder_is_split_stratified_and_seeded(tmp_path):
    make_classes(tmp_path, {"cats": 10, "dogs": 5, "eels": 2})
    bundle = load_dataset(DataConfig(source=str(tmp_path), val_fraction=0.2))
    assert bundle.class_names == ("cats", "dogs", "eels")
    assert bundle.description == f"{tmp_path.name} (folder): cats, dogs, eels"
    assert bundle.val.class_counts(3) == [2, 1, 1]  # every class with >= 2 images gets one
    assert bundle.train.class_counts(3) == [8, 4, 1]
    assert bundle.input_shape == (3, 32, 32)
    assert bundle.train.images.dtype == torch.uint8 and bundle.train.labels.dtype == torch.int64
    # red images for class 0, green for class 1
    assert int(bundle.train.images[bundle.train.labels == 0][:, 0].min()) > 150
    assert int(bundle.train.images[bundle.train.labels == 1][:, 1].min()) > 150

    files = scan_folder(tmp_path).train
    a = split_by_fraction(files, 3, 0.2, seed=1)
    b = split_by_fraction(files, 3, 0.2, seed=1)
    c = split_by_fraction(files, 3, 0.5, seed=2)
    assert a == b
    assert a[1] != c[1]
    assert sorted(a[0] + a[1]) == sorted(files)


def test_train_test_layout_and_image_size(tmp_path):
    make_classes(tmp_path / "train", {"ok": 4, "defect": 3})
    make_classes(tmp_path / "test", {"ok": 2, "defect": 1})
    (tmp_path / "train" / "ok" / "notes.txt").write_text("not an image")
    bundle = load_dataset(DataConfig(source=str(tmp_path), image_size=16))
    assert bundle.class_names == ("defect", "ok")  # sorted folder names
    assert len(bundle.train) == 7 and len(bundle.val) == 3
    assert bundle.val.class_counts(2) == [1, 2]
    assert bundle.input_shape == (3, 16, 16)
    assert available_classes(DataConfig(source=str(tmp_path))) == ("defect", "ok")


def test_val_folder_and_grayscale(tmp_path):
    make_classes(tmp_path / "train", {"a": 2, "b": 2})
    make_classes(tmp_path / "val", {"a": 1, "b": 1})
    bundle = load_dataset(DataConfig(source=str(tmp_path), grayscale=True, image_size=8))
    assert bundle.input_shape == (1, 8, 8) and len(bundle.mean) == 1 and len(bundle.val) == 2


def test_recursive_hidden_and_formats(tmp_path):
    save(tmp_path / "a" / "x.png")
    save(tmp_path / "a" / "deeper" / "y.JPG", fmt="JPEG")
    save(tmp_path / "a" / "z.bmp")
    save(tmp_path / "a" / ".hidden.png")
    save(tmp_path / "a" / ".git" / "w.png")
    save(tmp_path / "b" / "x.webp")
    save(tmp_path / "b" / "y.gif", mode="P", colour=3)
    save(tmp_path / "b" / "z.tiff")
    (tmp_path / "b" / "README.md").write_text("hello")
    (tmp_path / ".cache").mkdir()
    save(tmp_path / ".cache" / "c.png")
    scan = scan_folder(tmp_path)
    assert scan.class_names == ("a", "b")
    names = sorted(Path(p).name for p, _ in scan.train)
    assert names == ["x.png", "x.webp", "y.JPG", "y.gif", "z.bmp", "z.tiff"]
    bundle = load_dataset(DataConfig(source=str(tmp_path)))
    assert len(bundle.train) + len(bundle.val) == 6 and bundle.warnings == ()


def test_unreadable_files_are_skipped_with_a_warning(tmp_path):
    make_classes(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    good = tmp_path / "b" / "img000.png"
    data = good.read_bytes()
    (tmp_path / "b" / "truncated.png").write_bytes(data[: len(data) // 2])
    bundle = load_dataset(DataConfig(source=str(tmp_path)))
    assert len(bundle.train) + len(bundle.val) == 8
    assert len(bundle.warnings) == 1
    text = bundle.warnings[0]
    assert text.startswith("skipped 3 unreadable image files:")
    assert "broken.png" in text and "empty.jpg" in text and "truncated.png" in text


def test_all_unreadable_is_an_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 2 image files"):
        load_dataset(DataConfig(source=str(tmp_path)))


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "no images in"),
        (lambda p: make_classes(p, {"only": 3}), "only one class folder"),
        (lambda p: save(p / "loose.png"), "no class folders"),
        (lambda p: (p / "a").mkdir() or (p / "b").mkdir(), "no images in the class folders"),
    ],
    ids=["empty", "one-class", "loose-images", "empty-class-folders"],
)
def test_folder_errors(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(DataConfig(source=str(tmp_path)))
    assert "\n" not in str(info.value)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        load_dataset(DataConfig(source=str(tmp_path / "nope")))
    f = save(tmp_path / "pic.png")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_dataset(DataConfig(source=str(f)))


def test_empty_class_folder_is_skipped_with_warning(tmp_path):
    make_classes(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "c").mkdir()
    bundle = load_dataset(DataConfig(source=str(tmp_path)))
    assert bundle.class_names == ("a", "b")
    assert any("without images skipped: c" in w for w in bundle.warnings)


def test_val_classes_must_match(tmp_path):
    make_classes(tmp_path / "train", {"a": 2, "b": 2, "c": 2})
    make_classes(tmp_path / "test", {"a": 1, "b": 1, "d": 1})
    with pytest.raises(DataError, match=r"test/ must match .*train/ \(missing c; extra d\)"):
        load_dataset(DataConfig(source=str(tmp_path)))


def test_train_only_is_split(tmp_path):
    make_classes(tmp_path / "train", {"a": 3, "b": 3})
    bundle = load_dataset(DataConfig(source=str(tmp_path)))
    assert len(bundle.val) == 2 and len(bundle.train) == 4
    assert any("split off" in w for w in bundle.warnings)


def test_class_named_train_is_a_class(tmp_path):
    make_classes(tmp_path, {"train": 2, "car": 2})
    assert load_dataset(DataConfig(source=str(tmp_path))).class_names == ("car", "train")


# --- decoding single images ---------------------------------------------------


def test_transparency_is_composited_on_white(tmp_path):
    path = tmp_path / "t.png"
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(path)
    assert decode_image(path, 8).min() == 255  # fully transparent -> white
    Image.new("LA", (8, 8), (0, 255)).save(path)
    assert decode_image(path, 8).max() == 0  # opaque black stays black
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    pal.save(path, transparency=1)
    assert decode_image(path, 8).min() == 255


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    arr = np.full((6, 6), 32896, dtype=np.uint16)  # 128.5 / 255 of full range
    arr[0, 0] = 65535
    Image.fromarray(arr).save(path)
    out = decode_image(path, 6, grayscale=True)
    assert out.shape == (1, 6, 6)
    assert int(out[0, 1, 1]) == 128 and int(out[0, 0, 0]) == 255
    rgb = decode_image(path, 6)
    assert rgb.shape == (3, 6, 6) and int(rgb[:, 1, 1].min()) == 128


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (20, 10), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 10))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "o.jpg"
    img.save(path, exif=exif, quality=95)
    out = decode_image(path, 10, grayscale=True)[0]
    # displayed upright it is 10 wide and 20 tall with the white half on top
    assert out[:3].mean() > 200 and out[-3:].mean() < 50


def test_first_frame_of_animation(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 0, 250))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    out = decode_image(path, 8)
    assert out[0].mean() > 200 and out[2].mean() < 50


def test_big_jpeg_is_reduced(tmp_path):
    path = tmp_path / "big.jpg"
    arr = np.zeros((1200, 1600, 3), np.uint8)
    arr[:, 800:] = 255
    Image.fromarray(arr).save(path, quality=90)
    out = decode_image(path, 32)
    assert out.shape == (3, 32, 32)
    assert out[:, :, :14].max() < 30 and out[:, :, 18:].min() > 225


def test_same_pixels_as_inference(tmp_path):
    """Training images from folders must match what core.inference feeds the model."""
    inference = pytest.importorskip("cvstudio.core.inference")
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    paths = []
    for name, img, kw in [
        ("rgb.png", Image.fromarray(noise), {}),
        ("rgba.png", Image.fromarray(np.dstack([noise, noise[..., :1]]), "RGBA"), {}),
        ("la.png", Image.fromarray(np.dstack([noise[..., 0], noise[..., 1]]), "LA"), {}),
        ("deep.png", Image.fromarray(noise[..., 0].astype(np.uint16) * 257), {}),
        ("photo.jpg", Image.fromarray(np.kron(noise, np.ones((20, 20, 1), np.uint8))), {"quality": 90}),
        ("pal.gif", Image.fromarray(noise).convert("P"), {}),
    ]:
        img.save(tmp_path / name, **kw)
        paths.append(tmp_path / name)
    for path in paths:
        for channels in (1, 3):
            ours = decode_image(path, 24, grayscale=channels == 1)
            theirs = inference.decode_image(path, (channels, 24, 24)).numpy()
            assert np.array_equal(ours, theirs), (path.name, channels)
