"""Image loading (every awkward format and every bad file) and classification."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from cvstudio.core.control import RunControl
from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
from cvstudio.core.errors import ImageError
from cvstudio.core.inference import (
    Classifier,
    decode_image,
    expand_inputs,
    load_image,
    normalize,
)
from cvstudio.core.models.builder import build_model
from cvstudio.core.models.presets import get_preset

RGB = (3, 16, 16)
GRAY = (1, 16, 16)
CLASSES = ("circle", "square", "triangle")


def png_bytes(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def write(path: Path, im: Image.Image, fmt: str | None = None, **kw) -> Path:
    im.save(path, fmt, **kw)
    return path


def noise(w: int, h: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def pixel(t: torch.Tensor, y: int, x: int) -> tuple[int, ...]:
    return tuple(int(v) for v in t[:, y, x])


def near(a, b, tol: int = 3) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


# --- decoding awkward images ---------------------------------------------------------


def test_plain_rgb_resized_and_typed(tmp_path):
    p = write(tmp_path / "a.png", Image.new("RGB", (64, 48), (10, 200, 30)))
    t = load_image(p, RGB)
    assert t.dtype == torch.uint8 and t.shape == RGB and t.is_contiguous()
    assert pixel(t, 8, 8) == (10, 200, 30)
    assert torch.equal(load_image(str(p), RGB), t)
    assert torch.equal(load_image(p.read_bytes(), RGB), t)
    assert torch.equal(load_image(Image.open(p), RGB), t)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))  # stored: left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    p = write(tmp_path / "rot.jpg", im, "JPEG", exif=exif.tobytes(), quality=95)
    t = load_image(p, (3, 40, 20))  # shown 20 wide, 40 tall
    assert near(pixel(t, 5, 10), (255, 0, 0), 20) and near(pixel(t, 35, 10), (0, 0, 255), 20)
    # A PIL image with the same tag is turned too, without changing the caller's image.
    src = Image.open(p)
    assert load_image(src, (3, 40, 20)).shape == (3, 40, 20) and src.size == (40, 20)


def test_palette_with_transparency_on_white(tmp_path):
    im = Image.new("P", (16, 16), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (8, 0, 16, 16))
    p = write(tmp_path / "p.png", im, transparency=0)
    t = load_image(p, RGB)
    assert pixel(t, 4, 2) == (255, 255, 255) and pixel(t, 4, 12) == (255, 0, 0)
    g = load_image(p, GRAY)
    assert pixel(g, 4, 2) == (255,) and pixel(g, 4, 12) == (76,)  # luma of red


def test_gray_with_alpha_and_rgba(tmp_path):
    la = Image.new("LA", (16, 16), (0, 0))  # black, fully transparent
    la.paste((0, 255), (8, 0, 16, 16))  # black, opaque
    p = write(tmp_path / "la.png", la)
    g = load_image(p, GRAY)
    assert pixel(g, 0, 0) == (255,) and pixel(g, 0, 15) == (0,)
    assert pixel(load_image(p, RGB), 0, 0) == (255, 255, 255)

    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 128))  # half-transparent red
    t = load_image(write(tmp_path / "rgba.png", rgba), RGB)
    assert near(pixel(t, 3, 3), (255, 127, 127), 2)


def test_sixteen_bit_keeps_full_range(tmp_path):
    a = np.zeros((16, 16), np.uint16)
    a[:, 4:8] = 300  # would be 255 if clipped, is 1 when scaled
    a[:, 8:12] = 32768
    a[:, 12:] = 65535
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    p = write(tmp_path / "deep.png", im)
    g = load_image(p, GRAY)
    assert [pixel(g, 0, x)[0] for x in (0, 5, 9, 13)] == [0, 1, 128, 255]
    assert pixel(load_image(p, RGB), 0, 13) == (255, 255, 255)
    # 32-bit "I" holding 16-bit data (what some readers produce) scales the same way.
    g32 = load_image(Image.fromarray(a.astype(np.int32), "I"), GRAY)
    assert [pixel(g32, 0, x)[0] for x in (0, 5, 9, 13)] == [0, 1, 128, 255]


def test_cmyk_jpeg(tmp_path):
    p = write(tmp_path / "cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(p).mode == "CMYK"
    r, g, b = pixel(load_image(p, RGB), 8, 8)
    assert r > 220 and g < 40 and b < 40


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(p).n_frames == 3
    assert near(pixel(load_image(p, RGB), 8, 8), (255, 0, 0), 2)


def test_one_bit_and_channel_conversion(tmp_path):
    a = np.indices((16, 16)).sum(0) % 2 == 0
    p = write(tmp_path / "bits.png", Image.fromarray(a).convert("1"))
    g = load_image(p, GRAY)
    assert set(g.unique().tolist()) == {0, 255}
    assert torch.equal(g[0], torch.from_numpy(a.astype(np.uint8) * 255))
    # RGB file for a one-channel model: luma; gray file for an RGB model: three equal channels.
    rgb = write(tmp_path / "c.png", Image.new("RGB", (16, 16), (255, 0, 0)))
    assert load_image(rgb, GRAY).shape == GRAY and pixel(load_image(rgb, GRAY), 0, 0) == (76,)
    t = load_image(write(tmp_path / "g.png", Image.new("L", (16, 16), 99)), RGB)
    assert pixel(t, 0, 0) == (99, 99, 99)


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    y, x = np.mgrid[0:1500, 0:2000]
    arr = np.stack([x * 255 // 2000, y * 255 // 1500, np.full_like(x, 128)], -1).astype(np.uint8)
    p = write(tmp_path / "big.jpg", Image.fromarray(arr), "JPEG", quality=90)
    t = load_image(p, (3, 32, 32))
    ref = np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR, reducing_gap=3.0))
    diff = np.abs(t.permute(1, 2, 0).numpy().astype(int) - ref.astype(int))
    assert diff.mean() < 2 and diff.max() < 16


# --- bad inputs ----------------------------------------------------------------------


def reason(source, shape=RGB) -> str:
    with pytest.raises(ImageError) as info:
        decode_image(source, shape)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_bad_files_get_plain_reasons(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not a picture")
    assert "not an image" in reason(tmp_path / "notes.txt")
    (tmp_path / "empty.png").write_bytes(b"")
    assert reason(tmp_path / "empty.png") == "empty file"
    assert reason(b"") == "empty file"
    assert reason(tmp_path / "missing.png") == "file not found"
    assert "folder" in reason(tmp_path)
    assert "not an image" in reason(b"\x00" * 100)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_detected(tmp_path, fmt):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    data = png_bytes(noise(64, 64), fmt)
    p = tmp_path / f"cut.{fmt.lower()}"
    p.write_bytes(data[: len(data) // 2])
    assert "truncated" in reason(p)
    with pytest.raises(ImageError, match=r"cut\.\w+: truncated"):
        load_image(p, RGB)


def test_decompression_bomb(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    p = write(tmp_path / "warn.png", Image.new("RGB", (40, 40)))  # over the limit: Pillow only warns
    assert reason(p) == "image is too large (1600 pixels; limit 1000)"
    p = write(tmp_path / "error.png", Image.new("RGB", (100, 100)))  # over twice the limit: Pillow refuses
    assert reason(p) == "image is too large (10000 pixels; limit 1000)"
    assert reason(Image.new("L", (50, 50))) == "image is too large (2500 pixels; limit 1000)"


def test_unreadable_file(tmp_path, monkeypatch):
    p = write(tmp_path / "secret.png", Image.new("RGB", (4, 4)))
    if os.name == "posix" and os.geteuid() != 0:
        p.chmod(0)
    else:  # root (or Windows) reads anything: simulate the refusal

        def refuse(*a, **k):
            raise PermissionError(13, "Permission denied", str(p))

        import cvstudio.core.inference as inference

        monkeypatch.setattr(Image, "open", refuse)  # files over FAST_DECODE_BYTES: Pillow opens them
        monkeypatch.setattr(inference, "open", refuse, raising=False)  # smaller ones are read whole first
    try:
        assert reason(p) == "permission denied"
    finally:
        p.chmod(0o644)


def test_unsupported_mode(monkeypatch):
    from PIL import ImageOps

    monkeypatch.setattr(ImageOps, "exif_transpose", lambda im, in_place=False: None if in_place else im)
    im = Image.new("L", (4, 4))
    im._mode = "BGR;16"  # a mode no decoder path handles (no Pillow plugin makes one today)
    assert reason(im) == "unsupported image mode 'BGR;16'"


def test_load_image_names_the_file(tmp_path):
    with pytest.raises(ImageError, match=r"^.*missing\.png: file not found$"):
        load_image(tmp_path / "missing.png", RGB)


def test_normalize_whole_batch():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1).repeat(2, 1, 2, 2)
    y = normalize(x, (0.0, 0.2, 0.5), (1.0, 0.5, 0.25))
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([0.0, 0.0, 2.0]))
    assert x.dtype == torch.uint8 and int(x[0, 2, 0, 0]) == 255
    f = torch.ones(3, 2, 2)
    normalize(f, (0.5,) * 3, (0.5,) * 3)
    assert torch.equal(f, torch.ones(3, 2, 2))  # inputs are never changed in place


# --- classifying ---------------------------------------------------------------------


def make_classifier(preset: str = "convnet", shape=RGB) -> Classifier:
    torch.manual_seed(0)
    spec = get_preset(preset, width=8)
    model = build_model(spec, shape, len(CLASSES))
    c = shape[0]
    meta = CheckpointMeta(spec, CLASSES, shape, (0.5,) * c, (0.25,) * c)
    return Classifier(model, meta)


def test_a_convolutional_classifier_runs_channels_last_with_the_same_answers():
    import copy

    clf = make_classifier("convnet")
    convs = [m for m in clf.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    reference = copy.deepcopy(clf.model).to(memory_format=torch.contiguous_format)
    assert all(m.weight.is_contiguous() for m in reference.modules() if isinstance(m, torch.nn.Conv2d))
    x = torch.randint(0, 256, (5, *RGB), dtype=torch.uint8)
    with torch.inference_mode():
        expected = torch.softmax(reference((x.float() / 255 - 0.5) / 0.25), dim=1).numpy()
    assert np.allclose(clf.probabilities(x), expected, atol=1e-5)

    mlp = make_classifier("mlp")  # no convolution: left as it is
    assert all(p.is_contiguous() for p in mlp.model.parameters())


def test_probabilities_softmax_and_log_softmax_models():
    x = torch.randint(0, 256, (5, *RGB), dtype=torch.uint8)
    for preset in ("convnet", "mlp"):  # mlp ends in LogSoftmax
        clf = make_classifier(preset)
        p = clf.probabilities(x)
        assert p.shape == (5, 3) and p.dtype == np.float32
        assert np.allclose(p.sum(1), 1.0, atol=1e-5) and (p >= 0).all()
        assert np.allclose(clf.probabilities(x[0]), p[:1], atol=1e-6)


def test_classify_paths_keeps_order_and_reports_errors(tmp_path):
    clf = make_classifier()
    files = []
    for i in range(7):
        files.append(write(tmp_path / f"img{i}.png", noise(20 + i, 16, seed=i)))
    (tmp_path / "bad.png").write_text("nope")
    files.insert(2, tmp_path / "bad.png")
    files.insert(5, tmp_path / "missing.jpg")
    events = []
    preds = clf.classify_paths(files, top_k=2, batch_size=3, on_progress=events.append)
    assert [p.path for p in preds] == [str(f) for f in files]
    assert preds[2].error.startswith("not an image") and preds[5].error == "file not found"
    good = [p for p in preds if p.error is None]
    assert len(good) == 7
    batch = torch.stack([load_image(f, RGB) for f in files if f.name.startswith("img")])
    expect = clf.probabilities(batch)
    for pred, row in zip(good, expect):
        assert pred.label in CLASSES and len(pred.top_k) == 2
        assert pred.label == CLASSES[int(row.argmax())] and abs(pred.prob - float(row.max())) < 1e-6
        assert pred.top_k[0] == (pred.label, pred.prob) and pred.top_k[0][1] >= pred.top_k[1][1]
    assert events[-1].done == events[-1].total == len(files) and len(events) == 3
    # JSON objects as `cvstudio classify --json` prints them
    d = json.loads(json.dumps(good[0].to_dict()))
    assert set(d) == {"path", "label", "prob", "top_k"} and d["top_k"][0] == [good[0].label, good[0].prob]
    assert preds[5].to_dict() == {"path": str(files[5]), "error": "file not found"}


def test_classify_paths_stops_when_asked(tmp_path):
    clf = make_classifier()
    files = [write(tmp_path / f"{i}.png", noise(16, 16, seed=i)) for i in range(10)]
    control = RunControl()
    control.request_stop()
    preds = clf.classify_paths(files, batch_size=4, control=control)
    assert [p.path for p in preds] == [str(f) for f in files[:4]]
    assert clf.classify_paths([]) == []
    assert len(clf.classify_paths(files, top_k=10)[0].top_k) == 3


def test_grayscale_model_and_classify_image(tmp_path):
    clf = make_classifier("convnet", GRAY)
    p = write(tmp_path / "x.jpg", noise(30, 30), "JPEG")
    (pred,) = clf.classify_paths([p])
    assert pred.error is None and pred.label in CLASSES
    single = clf.classify_image(p)
    assert single.label == pred.label and abs(single.prob - pred.prob) < 1e-6
    assert clf.classify_image(b"junk").error.startswith("not an image")
    assert clf.classify_image(Image.open(p)).label == pred.label


def test_classifier_from_checkpoint(tmp_path):
    clf = make_classifier()
    ckpt = save_checkpoint(tmp_path / "m.safetensors", clf.model, clf.meta)
    again = Classifier.from_checkpoint(ckpt)
    x = torch.randint(0, 256, (3, *RGB), dtype=torch.uint8)
    assert np.array_equal(again.probabilities(x), clf.probabilities(x))
    assert again.class_names == CLASSES and again.input_shape == RGB


def test_expand_inputs(tmp_path):
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in ["z.png", "a.JPG", "b/c.webp", "b/deep/d.tiff", "b/deep/e.gif", ".hidden/x.png", "b/.y.png"]:
        (root / rel).write_bytes(b"")
    (root / "notes.txt").write_text("x")
    (root / "b" / "model.safetensors").write_bytes(b"")
    single = tmp_path / "single.dat"
    got = expand_inputs([single, root, tmp_path / "missing.png"])
    rel = [p.relative_to(root).as_posix() if root in p.parents else p.name for p in got]
    assert rel == ["single.dat", "a.JPG", "b/c.webp", "b/deep/d.tiff", "b/deep/e.gif", "z.png", "missing.png"]


def test_image_files_under_flags_links_and_does_not_enter_linked_folders(tmp_path):
    from cvstudio.core.inference import image_files_under

    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for path in (root / "b.png", root / "sub" / "c.png", elsewhere / "far.png"):
        path.write_bytes(b"")
    (root / "a.png").symlink_to(elsewhere / "far.png")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)  # os.walk does not enter it either
    (root / "broken.png").symlink_to(tmp_path / "gone.png")  # listed: classifying it reports the problem
    got = [(os.path.relpath(path, root), link) for path, link in image_files_under(root)]
    assert got == [("a.png", True), ("b.png", False), ("broken.png", True), (os.path.join("sub", "c.png"), False)]
    assert [str(p) for p in expand_inputs([root])] == [path for path, _ in image_files_under(root)]


def test_classify_streams_rows_in_order_with_thumbnails_and_views(tmp_path):
    from cvstudio.core.inference import NamedImage, classify

    clf = make_classifier()
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    files = [write(folder / ("sub" if i % 2 else "") / f"img{i}.png", noise(20 + i, 16, seed=i)) for i in range(5)]
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    pasted = NamedImage("Pasted image 1", noise(40, 30, seed=9))
    batches, events = [], []

    class Events:
        def on_progress(self, event):
            events.append(event)

    summary = classify(clf, [folder, bad, pasted, tmp_path / "empty"], None, batches.append, top_k=2, first_batch=2,
                       batch_size=3, thumbnail_side=8, keep_views_up_to=16 * 16, callbacks=[Events()])
    rows = [r for b in batches for r in b]
    assert [len(b) for b in batches] == [2, 3, 2]  # a small first batch, then full ones
    assert [r.index for r in rows] == list(range(7)) and summary.total == summary.done == 7
    assert summary.empty_folders == (str(tmp_path / "empty"),) and not summary.cancelled
    assert summary.first_rows_s is not None and events[-1].done == 7
    expected = [str(p) for p in expand_inputs([folder])] + [str(bad), "Pasted image 1"]
    assert [r.prediction.path for r in rows] == expected
    assert rows[5].prediction.error.startswith("not an image") and rows[5].thumbnail is None
    good = [r for r in rows if r.prediction.ok]
    for r in good:
        assert r.thumbnail.dtype == np.uint8 and max(r.thumbnail.shape[:2]) <= 8
        assert r.view.shape == (16, 16, 3)
    x = torch.stack([decode_image(files[0], RGB)])
    first = next(r for r in rows if r.prediction.path == str(files[0]))
    assert np.array_equal(first.view, x[0].permute(1, 2, 0).numpy())
    assert abs(first.prediction.prob - float(clf.probabilities(x).max())) < 1e-6
    assert rows[6].original_size == (40, 30)


def test_classify_stops_between_batches_through_the_run_control(tmp_path):
    from cvstudio.core.inference import classify

    clf = make_classifier()
    files = [write(tmp_path / f"{i:02d}.png", noise(16, 16, seed=i)) for i in range(20)]
    control = RunControl()
    got = []

    def on_rows(rows):
        got.extend(rows)
        control.request_stop()  # e.g. the Cancel button, pressed when the first rows show

    summary = classify(clf, files, control, on_rows, first_batch=3, batch_size=5)
    assert summary.cancelled and summary.done == len(got) == 3 and summary.total == 20
    assert [r.prediction.path for r in got] == [str(f) for f in files[:3]]  # a prefix, in order


def test_one_intraop_thread_is_local_to_the_worker_thread():
    """The workers' tiny forward passes use one thread, without changing what other threads get."""
    import threading

    from cvstudio.core.threads import one_intraop_thread_here

    seen = {}

    def worker():
        seen["changed"] = one_intraop_thread_here()
        seen["worker"] = torch.get_num_threads()

    before = torch.get_num_threads()
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    if seen["changed"]:
        assert seen["worker"] == 1
    assert torch.get_num_threads() == before
    later = {}
    t = threading.Thread(target=lambda: later.setdefault("n", torch.get_num_threads()))
    t.start()
    t.join()
    assert later["n"] == before  # a thread started afterwards (e.g. training) keeps the default


def test_worker_priority_is_lowered_only_for_the_worker():
    import threading

    from cvstudio.core.threads import lower_thread_priority

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread nice values are a Linux feature")
    seen = {}

    def worker():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        seen["changed"] = lower_thread_priority(3)
        seen["delta"] = os.getpriority(os.PRIO_PROCESS, tid) - before

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["changed"] and seen["delta"] == min(3, 19 - main_before)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before


def test_single_intraop_thread_is_restored_after_the_block():
    from cvstudio.core.threads import single_intraop_thread

    before = torch.get_num_threads()
    with single_intraop_thread() as changed:
        if changed:
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# --- one decode for the model's input and the thumbnail -----------------------------------


def _smooth(w: int, h: int) -> Image.Image:
    """A photo-like image (gradients): JPEG keeps it close, so drafts and resizes can be compared."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) * 255 // max(1, w + h - 2)], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def _rows(clf, paths, **kw):
    from cvstudio.core.inference import classify

    out = []
    classify(clf, paths, None, out.extend, top_k=1, **kw)
    return out


def test_thumbnail_comes_from_the_models_decode_with_the_same_pixels(tmp_path):
    from cvstudio.core.inference import thumbnail

    clf = make_classifier()
    png = write(tmp_path / "wide.png", noise(100, 60, seed=3))
    small = write(tmp_path / "small.png", noise(16, 16, seed=4))  # the model's own size: the thumbnail is its input
    rows = _rows(clf, [png, small], thumbnail_side=64, keep_views_up_to=16 * 16)
    wide, tiny = rows
    expected, size, fmt = thumbnail(png, 64)
    assert wide.thumbnail.shape == (38, 64, 3) and np.array_equal(wide.thumbnail, expected)
    assert wide.original_size == size == (100, 60) and wide.image_format == fmt == "PNG"
    assert np.array_equal(tiny.thumbnail, np.asarray(Image.open(small).convert("RGB")))
    for row, path in ((wide, png), (tiny, small)):  # the model's input is what it always was
        assert np.array_equal(row.view, decode_image(path, RGB).permute(1, 2, 0).numpy())


def test_jpeg_drafts_keep_the_models_pixels_and_give_a_thumbnail_from_the_same_decode(tmp_path):
    clf = make_classifier()
    big = write(tmp_path / "big.jpg", _smooth(800, 600), "JPEG", quality=95)  # drafted to 1/8: still >= 64 px
    mid = write(tmp_path / "mid.jpg", _smooth(48, 48), "JPEG", quality=95)  # drafted to 24 px: half the thumbnail
    other = write(tmp_path / "other.jpg", _smooth(120, 120), "JPEG", quality=95)  # drafted to 30 px: decoded again
    rows = _rows(clf, [big, mid, other], thumbnail_side=64, keep_views_up_to=16 * 16)
    for row, path in zip(rows, (big, mid, other)):
        assert np.array_equal(row.view, decode_image(path, RGB).permute(1, 2, 0).numpy())
    assert rows[0].thumbnail.shape == (48, 64, 3) and rows[0].original_size == (800, 600)
    assert rows[1].thumbnail.shape == (24, 24, 3)  # the views scale icons; no second decode for them
    assert rows[2].thumbnail.shape == (64, 64, 3)  # under half the thumbnail: decoded again for it


def test_a_turned_photo_reports_its_size_as_shown_and_a_thumbnail_the_same_way_up(tmp_path):
    from cvstudio.core.inference import thumbnail

    clf = make_classifier()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    big = write(tmp_path / "big.jpg", _smooth(800, 600), "JPEG", exif=exif.tobytes(), quality=95)  # drafted
    small = write(tmp_path / "small.png", _smooth(40, 30), "PNG", exif=exif.tobytes())  # decoded whole
    plain = write(tmp_path / "plain.jpg", _smooth(800, 600), "JPEG", quality=95)
    rows = _rows(clf, [big, small, plain], thumbnail_side=64)
    assert [r.original_size for r in rows] == [(600, 800), (30, 40), (800, 600)]
    assert [r.thumbnail.shape for r in rows] == [(64, 48, 3), (40, 30, 3), (48, 64, 3)]
    for row, path in zip(rows, (big, small, plain)):  # as the thumbnail made on its own says
        assert row.original_size == thumbnail(path, 64)[1]


def test_a_grayscale_models_thumbnail_keeps_the_colours(tmp_path):
    clf = make_classifier(shape=GRAY)
    p = write(tmp_path / "red.jpg", Image.new("RGB", (400, 300), (220, 20, 20)), "JPEG", quality=95)
    (row,) = _rows(clf, [p], thumbnail_side=64)
    assert row.thumbnail.shape == (48, 64, 3)
    r, g, b = (int(v) for v in row.thumbnail[24, 32])
    assert r > 180 and g < 70 and b < 70


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_any_number_of_decoders_gives_every_row_in_order(tmp_path, workers):
    clf = make_classifier()
    files = [write(tmp_path / f"{i:02d}.png", noise(10 + i, 12, seed=i)) for i in range(23)]
    batches = []
    from cvstudio.core.inference import classify

    classify(clf, files, None, batches.append, first_batch=5, batch_size=9, workers=workers)
    rows = [r for b in batches for r in b]
    assert [len(b) for b in batches] == [5, 9, 9]
    assert [r.prediction.path for r in rows] == [str(f) for f in files]
    expected = clf.probabilities(torch.stack([decode_image(f, RGB) for f in files]))
    assert [r.prediction.label for r in rows] == [CLASSES[i] for i in expected.argmax(1)]
