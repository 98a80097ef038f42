"""Image folders: only the chosen classes are decoded, cached per class, with the same pixels as Pillow;
loading can be stopped and reports done/total."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cvstudio.core.control import RunControl
from cvstudio.core.data import fastdecode, folders, load_dataset, shapes
from cvstudio.core.data.cache import cache_folder
from cvstudio.core.errors import Cancelled
from cvstudio.core.specs import DataConfig

CLASSES = ("ants", "bees", "cats", "dogs")


def noise(rng, h, w, grey=False):
    base = rng.integers(0, 256, (max(1, h // 4), max(1, w // 4)) + (() if grey else (3,)), dtype=np.uint8)
    big = np.kron(base, np.ones((4, 4) + (() if grey else (1,)), np.uint8))[:h, :w]
    return np.ascontiguousarray(big)


def make_jpeg_folder(root: Path, per_class: int = 12, seed: int = 0) -> None:
    """Small JPEGs of several kinds (the fast path) plus a few files only Pillow may decode."""
    rng = np.random.default_rng(seed)
    kinds = [
        ((32, 32), {"quality": 90}),  # baseline 4:2:0, already the input size
        ((30, 40), {"quality": 75, "subsampling": 0}),  # 4:4:4, resized
        ((50, 20), {"quality": 80, "progressive": True}),  # progressive, resized
        ((64, 60), {"quality": 85, "subsampling": 1}),  # 4:2:2; min(60 // 32, 64 // 32) = 1: full-size decode
        ((100, 80), {"quality": 85}),  # draft mode would halve it: Pillow's path
    ]
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (h, w), kw = kinds[i % len(kinds)]
            grey = i % 7 == 3
            img = Image.fromarray(noise(rng, h, w, grey) // (k + 1) + 40 * k)
            img.save(root / name / f"{i:03d}.jpg", **kw)
        exif = Image.Exif()
        exif[0x0112] = 6  # rotated: Pillow applies the orientation
        Image.fromarray(noise(rng, 20, 36)).save(root / name / "exif.jpg", exif=exif)
        Image.fromarray(noise(rng, 24, 24)).save(root / name / "plain.png")
        Image.fromarray(np.dstack([noise(rng, 16, 16), noise(rng, 16, 16, True)]), "RGBA").save(root / name / "a.png")


def reference(root: Path, classes, size=32, grayscale=False, val_fraction=0.2, seed=0):
    """What the whole-folder Pillow decode (the loader before per-class caching) gives: per-file
    ``decode_image``, the seeded split over all classes, then the subset in original label order."""
    scan = folders.scan_folder(root)
    idx = [scan.class_names.index(c) for c in classes]
    train, val, _ = folders.split_by_fraction(scan.train, len(scan.class_names), val_fraction, seed)
    out = []
    for part in (train, val):
        items = [(p, k) for p, k in part if k in idx]
        images = torch.from_numpy(np.stack([folders.decode_image(p, size, grayscale) for p, _ in items]))
        labels = torch.tensor([idx.index(k) for _, k in items])
        out.append((images, labels))
    return out


def decoded_classes(calls):
    return [sorted({Path(p).parent.name for p, _ in files}) for files in calls]


@pytest.fixture
def spy_decode(monkeypatch):
    calls = []
    real = folders.decode_files
    monkeypatch.setattr(folders, "decode_files", lambda files, *a, **k: calls.append(files) or real(files, *a, **k))
    return calls


@pytest.mark.parametrize("grayscale", [False, True])
def test_same_tensors_as_the_whole_folder_pillow_decode(tmp_path, monkeypatch, grayscale):
    make_jpeg_folder(tmp_path)
    fast_hits = []
    real = fastdecode.decode
    monkeypatch.setattr(fastdecode, "decode", lambda *a: (lambda r: fast_hits.append(r is not None) or r)(real(*a)))
    bundle = load_dataset(DataConfig(source=str(tmp_path), classes=("dogs", "bees"), grayscale=grayscale))
    (ti, tl), (vi, vl) = reference(tmp_path, ("dogs", "bees"), grayscale=grayscale)
    assert torch.equal(bundle.train.images, ti) and torch.equal(bundle.train.labels, tl)
    assert torch.equal(bundle.val.images, vi) and torch.equal(bundle.val.labels, vl)
    assert bundle.class_names == ("dogs", "bees")
    if fastdecode.operator() is not None:  # the fast path really decoded most files, yet nothing differs
        assert sum(fast_hits) >= 16 and not all(fast_hits)


def test_fast_jpeg_path_matches_pillow_file_by_file(tmp_path):
    make_jpeg_folder(tmp_path, per_class=10)
    files = [(p, 0) for p, _ in folders.scan_folder(tmp_path).train]
    fast = folders.decode_files(files, 24, False, fast=True)
    slow = folders.decode_files(files, 24, False, fast=False, workers=1)
    assert torch.equal(fast.images, slow.images) and len(fast.failed) == 0


def _text_chunk():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "made for a test")
    return info


def _xmp_chunk():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    info.add_itxt("XML:com.adobe.xmp", xmp)
    return info


def test_fast_png_path_matches_pillow_and_leaves_the_rest_to_it(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    rgb, grey = noise(rng, 30, 22), noise(rng, 32, 32, grey=True)
    pal = Image.fromarray(noise(rng, 32, 32)).convert("P", palette=Image.Palette.ADAPTIVE, colors=50)
    kinds = {
        "rgb.png": (Image.fromarray(rgb), {}, True),
        "grey.png": (Image.fromarray(grey), {}, True),
        "palette.png": (pal, {}, True),
        "text.png": (Image.fromarray(rgb), {"pnginfo": _text_chunk()}, True),  # tEXt changes no pixel
        "xmp.png": (Image.fromarray(rgb), {"pnginfo": _xmp_chunk()}, False),  # may hold an orientation
        "palette-transparent.png": (pal, {"transparency": 3}, False),  # tRNS: composited on white by Pillow
        "rgba.png": (Image.fromarray(np.dstack([rgb, noise(rng, 30, 22, True)]), "RGBA"), {}, False),
        "deep.png": (Image.fromarray(grey.astype(np.uint16) * 257), {}, False),  # 16-bit: scaled by Pillow
    }
    for name, (img, kw, _) in kinds.items():
        img.save(tmp_path / name, **kw)
    hits = {}
    real = fastdecode.decode

    def spy(ops, data, *args):
        result = real(ops, data, *args)
        hits[bytes(data)] = result is not None
        return result

    monkeypatch.setattr(fastdecode, "decode", spy)
    for grayscale in (False, True):
        files = [(str(tmp_path / name), 0) for name in kinds]
        fast = folders.decode_files(files, 32, grayscale, fast=True)
        slow = folders.decode_files(files, 32, grayscale, fast=False)
        assert torch.equal(fast.images, slow.images) and fast.failed == []
    if fastdecode.operator() is not None and fastdecode.operator().png is not None:
        taken = {name: hits[(tmp_path / name).read_bytes()] for name in kinds}
        assert taken == {name: expected for name, (_, _, expected) in kinds.items()}


def test_jpeg_frame_accepts_only_plain_jpegs():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, format="JPEG")
    plain = buf.getvalue()
    assert fastdecode.jpeg_frame(plain) == (40, 30)
    assert fastdecode.jpeg_frame(plain[:-2]) is None  # truncated (no EOI)
    exif = Image.Exif()
    exif[0x0112] = 3
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, format="JPEG", exif=exif)
    assert fastdecode.jpeg_frame(buf.getvalue()) is None
    buf = io.BytesIO()
    Image.new("CMYK", (8, 8)).save(buf, format="JPEG")
    assert fastdecode.jpeg_frame(buf.getvalue()) is None
    assert fastdecode.jpeg_frame(b"\x89PNG\r\n\x1a\n") is None
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, format="PNG")
    assert fastdecode.png_frame(buf.getvalue()) == (40, 30)
    assert fastdecode.png_frame(plain) is None


def test_a_subset_decodes_only_its_classes_and_later_subsets_reuse_them(tmp_path, spy_decode):
    make_jpeg_folder(tmp_path, per_class=6)
    first = load_dataset(DataConfig(source=str(tmp_path), classes=("cats", "ants")))
    assert decoded_classes(spy_decode) == [["cats"], ["ants"]]  # in the order asked for
    assert len(list(cache_folder().glob("*.safetensors"))) == 2

    spy_decode.clear()
    second = load_dataset(DataConfig(source=str(tmp_path), classes=("ants", "bees")))
    assert decoded_classes(spy_decode) == [["bees"]]  # ants came from the cache
    assert second.class_names == ("ants", "bees")

    spy_decode.clear()
    again = load_dataset(DataConfig(source=str(tmp_path), classes=("cats", "ants")))
    assert spy_decode == []
    assert torch.equal(again.train.images, first.train.images) and torch.equal(again.val.labels, first.val.labels)

    # another split fraction or seed decodes nothing either: the split is made after loading
    load_dataset(DataConfig(source=str(tmp_path), classes=("cats", "ants"), val_fraction=0.5, seed=3))
    assert spy_decode == []


def test_progress_counts_the_images_of_the_chosen_classes(tmp_path):
    make_jpeg_folder(tmp_path, per_class=5)

    class Recorder:
        events: list = []

        def on_progress(self, event):
            self.events.append(event)

    rec = Recorder()
    load_dataset(DataConfig(source=str(tmp_path), classes=("ants", "dogs")), [rec])
    decode = [e for e in rec.events if e.stage == "decode"]
    assert decode[0].done == 0 and decode[-1].done == decode[-1].total == 2 * 8  # 5 + exif + 2 png per class
    assert [e.message for e in rec.events if e.stage == "cache"][1] == "no cached copy"


def test_stop_request_cancels_and_keeps_only_complete_classes(tmp_path, monkeypatch, spy_decode):
    make_jpeg_folder(tmp_path, per_class=12)
    monkeypatch.setattr(folders, "CHUNK_FILES", 4)
    control = RunControl()
    reads = []
    real_open = folders.open_regular

    def opened(path):
        reads.append(path)
        if len(reads) == 20:  # inside the second class (15 files each)
            control.request_stop()
        return real_open(path)

    monkeypatch.setattr(folders, "open_regular", opened)
    with pytest.raises(Cancelled):
        load_dataset(DataConfig(source=str(tmp_path), classes=("ants", "bees", "cats")), control=control)
    assert decoded_classes(spy_decode) == [["ants"], ["bees"]]  # cats never started
    leftovers = sorted(p.name for p in cache_folder().iterdir())
    assert len(leftovers) == 1 and leftovers[0].startswith("class-ants-in-")  # no .tmp file either

    spy_decode.clear()
    bundle = load_dataset(DataConfig(source=str(tmp_path), classes=("ants", "bees", "cats")))
    assert decoded_classes(spy_decode) == [["bees"], ["cats"]]  # ants was complete and is reused
    (ti, tl), (vi, vl) = reference(tmp_path, ("ants", "bees", "cats"))
    assert torch.equal(bundle.train.images, ti) and torch.equal(bundle.val.images, vi)


def test_stop_request_cancels_a_generated_dataset(monkeypatch):
    monkeypatch.setattr(shapes, "TRAIN_SIZE", 200)
    control = RunControl()
    control.request_stop()
    with pytest.raises(Cancelled):
        load_dataset(DataConfig(), control=control)
    assert not cache_folder().exists() or list(cache_folder().iterdir()) == []
    assert len(load_dataset(DataConfig(), control=RunControl()).train) == 200


@pytest.mark.parametrize("layout", ["train-test", "split-by-fraction"])
def test_statistics_come_from_cached_histograms(tmp_path, monkeypatch, layout):
    from cvstudio.core.data import loader
    from cvstudio.core.data.stats import compute_stats

    if layout == "train-test":
        make_jpeg_folder(tmp_path / "train", per_class=8, seed=1)
        make_jpeg_folder(tmp_path / "test", per_class=3, seed=2)
    else:
        make_jpeg_folder(tmp_path, per_class=8, seed=1)
    first = load_dataset(DataConfig(source=str(tmp_path), classes=("cats", "ants")))
    assert (first.mean, first.std) == compute_stats(first.train.images)

    def fail(*a, **k):
        raise AssertionError("statistics recomputed from the images")

    monkeypatch.setattr(loader, "compute_stats", fail)
    again = load_dataset(DataConfig(source=str(tmp_path), classes=("cats", "ants")))
    assert (again.mean, again.std) == (first.mean, first.std)
    assert torch.equal(again.train.images, first.train.images) and torch.equal(again.val.images, first.val.images)


@pytest.mark.parametrize("offset", [-1, -200, 40])
def test_damaged_class_entry_is_decoded_again(tmp_path, spy_decode, offset):
    make_jpeg_folder(tmp_path / "train", per_class=4)
    make_jpeg_folder(tmp_path / "val", per_class=2)
    first = load_dataset(DataConfig(source=str(tmp_path), classes=("ants", "bees")))
    (path,) = [p for p in cache_folder().glob("class-bees-*.safetensors")]
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10  # tensor data (CRC), or the JSON header
    path.write_bytes(bytes(data))
    spy_decode.clear()
    again = load_dataset(DataConfig(source=str(tmp_path), classes=("ants", "bees")))
    assert decoded_classes(spy_decode) == [["bees"]]
    assert torch.equal(again.train.images, first.train.images) and (again.mean, again.std) == (first.mean, first.std)


def test_pause_holds_decoding_until_resumed(tmp_path, monkeypatch):
    import threading
    import time

    make_jpeg_folder(tmp_path, per_class=12)
    monkeypatch.setattr(folders, "CHUNK_FILES", 4)
    control = RunControl()
    control.pause()
    result = {}
    worker = threading.Thread(target=lambda: result.update(b=load_dataset(DataConfig(source=str(tmp_path)), control=control)))
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive() and "b" not in result  # waiting, not decoding
    control.resume()
    worker.join(timeout=30)
    assert len(result["b"].train) + len(result["b"].val) == 4 * 15


def test_big_files_are_streamed_with_the_same_pixels(tmp_path, monkeypatch):
    make_jpeg_folder(tmp_path, per_class=5)
    files = [(p, 0) for p, _ in folders.scan_folder(tmp_path).train]
    whole = folders.decode_files(files, 32, False)
    monkeypatch.setattr(folders, "READ_WHOLE_BYTES", 100)  # every file counts as big
    streamed = folders.decode_files(files, 32, False)
    assert torch.equal(whole.images, streamed.images) and streamed.failed == []
