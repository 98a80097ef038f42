"""Classifying decodes small plain JPEG and PNG files with libjpeg-turbo / libpng: the same answers as Pillow's path."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import cvstudio.core.inference as inference
from cvstudio.core.data import fastdecode

pytestmark = pytest.mark.skipif(fastdecode.operator() is None, reason="torchvision's image operators are not loadable")


def _photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) * 127 // max(1, w + h - 2)], -1)
    return np.clip(smooth + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _files(folder) -> dict[str, str]:
    out = {}

    def save(name, img, fmt, **kw):
        path = folder / name
        img.save(path, fmt, **kw)
        out[name] = str(path)

    save("rgb32.png", Image.fromarray(_photo(32, 32)), "PNG")
    save("rgb96.png", Image.fromarray(_photo(96, 96, 1)), "PNG")  # resized for the model
    save("wide.png", Image.fromarray(_photo(40, 24, 2)), "PNG")  # not square
    save("grey.png", Image.fromarray(_photo(32, 32, 3)[..., 0]), "PNG")
    save("palette.png", Image.fromarray(_photo(30, 30, 4)).convert("P", palette=Image.Palette.ADAPTIVE, colors=50), "PNG")
    save("small.jpg", Image.fromarray(_photo(48, 40, 5)), "JPEG", quality=90)  # under 2x: no draft
    save("grey.jpg", Image.fromarray(_photo(32, 32, 6)[..., 1]), "JPEG", quality=90)
    save("big.jpg", Image.fromarray(_photo(200, 150, 7)), "JPEG", quality=90)  # drafted: Pillow's path
    rgba = Image.fromarray(np.dstack([_photo(32, 32, 8), np.full((32, 32), 128, np.uint8)]), "RGBA")
    save("alpha.png", rgba, "PNG")  # transparency: Pillow's path
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: Pillow's path applies it
    save("turned.jpg", Image.fromarray(_photo(40, 30, 9)), "JPEG", quality=90, exif=exif.tobytes())
    return out


FAST = {"rgb32.png", "rgb96.png", "wide.png", "grey.png", "palette.png", "small.jpg", "grey.jpg"}


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 32, 32), (3, 24, 40)])
def test_same_input_thumbnail_and_view_as_pillow(tmp_path, monkeypatch, shape):
    files = _files(tmp_path)
    calls = []
    real = fastdecode.decoded

    def spy(*a, **k):
        t = real(*a, **k)
        calls.append(t is not None)
        return t

    monkeypatch.setattr(fastdecode, "decoded", spy)
    for name, path in files.items():
        calls.clear()
        fast = inference._decode(path, shape, 64)
        used = bool(calls) and calls[0]
        assert used == (name in FAST), name
        with monkeypatch.context() as m:
            m.setattr(inference, "FAST_DECODE_BYTES", 0)  # everything through Pillow
            slow = inference._decode(path, shape, 64)
        (ft, (fth, fsize, ffmt), fview), (st, (sth, ssize, sfmt), sview) = fast, slow
        assert ft.dtype == torch.uint8 and ft.is_contiguous() and tuple(ft.shape) == shape, name
        assert torch.equal(ft, st), name
        assert np.array_equal(fview, sview) and fview.flags.c_contiguous, name
        assert (fsize, ffmt) == (ssize, sfmt), name
        assert (fth is None) == (sth is None) and (fth is None or np.array_equal(fth, sth)), name


def test_a_folder_classifies_the_same_either_way(tmp_path, monkeypatch):
    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.inference import Classifier, classify
    from cvstudio.core.models import build_model, get_preset

    _files(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG header and nothing
    torch.manual_seed(0)
    spec = get_preset("convnet")
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 32, 32), mean=(0.5,) * 3,
                          std=(0.25,) * 3)
    clf = Classifier(build_model(spec, (3, 32, 32), 2), meta)

    def rows():
        out = []
        classify(clf, [tmp_path], None, out.extend, top_k=2, thumbnail_side=64, keep_views_up_to=32 * 32)
        return [(r.source, r.prediction.label, round(r.prediction.prob or 0, 5), r.prediction.error,
                 r.original_size, r.image_format) for r in out]

    fast = rows()
    monkeypatch.setattr(inference, "FAST_DECODE_BYTES", 0)
    assert fast == rows()
    assert [(r[0], r[3]) for r in fast if r[3]] == [(str(tmp_path / "broken.png"), "not an image (unrecognized file format)")]


def test_bytes_read_are_decoded_once_when_pillow_must_do_it(tmp_path, monkeypatch):
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(path)
    opened = []
    real_open = inference._open

    def spy(fp):
        opened.append(type(fp))
        return real_open(fp)

    monkeypatch.setattr(inference, "_open", spy)
    t, _, _ = inference._decode(str(path), (3, 8, 8), 0)
    assert opened == [io.BytesIO]  # Pillow decodes the bytes already read, not the file again
    assert t[:, 0, 0].tolist() == [255, 255, 255]  # transparent: white, Pillow's compositing


def test_warm_up_loads_the_decoders(monkeypatch):
    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.inference import Classifier
    from cvstudio.core.models import build_model, get_preset

    calls = []
    real = fastdecode.operator
    monkeypatch.setattr(fastdecode, "operator", lambda: calls.append(1) or real())
    spec = get_preset("mlp")
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 8, 8), mean=(0.5,) * 3,
                          std=(0.25,) * 3)
    Classifier(build_model(spec, (3, 8, 8), 2), meta).warm_up()
    assert calls == [1]


def test_a_file_that_grew_since_its_stat_goes_to_pillow_whole(tmp_path, monkeypatch):
    path = tmp_path / "growing.png"
    Image.fromarray(_photo(32, 32)).save(path)
    whole = inference._decode(str(path), (3, 32, 32), 0)[0]
    real_stat = inference.Path.stat

    def stale_stat(self, *a, **k):  # the size as it was before the last bytes were written
        st = real_stat(self, *a, **k)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid,
                               st.st_size - 10, st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(inference.Path, "stat", stale_stat)
    assert inference._read_small(path, path.stat().st_size) is None
    assert torch.equal(inference._decode(str(path), (3, 32, 32), 0)[0], whole)
