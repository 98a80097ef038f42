"""The built-in "shapes" dataset: small pictures of geometric shapes, made in code.

Every image shows one shape (its class) at a random position, size, rotation
and colour, on a noisy background with a colour gradient and a few small
distractor dots. The class is never given away by colour or position, so a
network has to recognise the outline wherever it is: a small convolutional
network learns it in a few epochs while a multilayer perceptron, which has to
learn every position separately, lags clearly behind.

Generation is vectorized: each shape is a signed distance function evaluated
on the pixel grid for a whole batch of images at once and turned into an
anti-aliased coverage mask. It is deterministic for a given seed; the
validation split uses a separate random stream from the training split.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

# Bump when the pictures change, so cached copies are rebuilt.
GENERATOR_VERSION = 1

CLASS_NAMES: tuple[str, ...] = ("circle", "ring", "triangle", "star", "cross", "bar")
TRAIN_SIZE = 10_000
VAL_SIZE = 2_000
DEFAULT_SIZE = 32  # pixels

_CHUNK = 1000  # images rendered per vectorized pass

# Relative size of each class so that the shapes cover similar areas.
_SCALE = {"circle": 0.8, "ring": 0.95, "triangle": 1.15, "star": 1.2, "cross": 1.0, "bar": 1.12}

_STREAM = {"train": 0x5EED_0001, "val": 0x5EED_0002}  # separate random streams per split


def generate_shapes(
    seed: int = 0,
    train_size: int = TRAIN_SIZE,
    val_size: int = VAL_SIZE,
    image_size: int = DEFAULT_SIZE,
    grayscale: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(train_images, train_labels, val_images, val_labels)``.

    Images are uint8 (N, 3, S, S) (or (N, 1, S, S) when ``grayscale``),
    labels int64 in 0..5, classes balanced within one image per class.
    ``progress(done, total)`` is called after each chunk of images.
    """
    total = train_size + val_size
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    train = _generate_split(seed, "train", train_size, image_size, grayscale, report)
    val = _generate_split(seed, "val", val_size, image_size, grayscale, report)
    return train[0], train[1], val[0], val[1]


def _generate_split(
    seed: int, split: str, n: int, size: int, grayscale: bool, report: Callable[[int], None]
) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.Generator(np.random.PCG64([int(seed) & 0xFFFF_FFFF_FFFF_FFFF, _STREAM[split]]))
    k = len(CLASS_NAMES)
    labels = (np.arange(n) % k)[rng.permutation(n)].astype(np.int64)
    images = np.empty((n, 1 if grayscale else 3, size, size), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        rgb = _render(labels[start:stop], size, rng)
        if grayscale:
            rgb = np.einsum("bchw,c->bhw", rgb, np.array([0.299, 0.587, 0.114], np.float32))[:, None]
        np.clip(rgb, 0, 255, out=rgb)
        np.rint(rgb, out=rgb)
        images[start:stop] = rgb
        report(stop - start)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _render(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Float32 (B, 3, S, S) pictures in 0..255 for the given class labels."""
    b = labels.shape[0]
    s = float(size)
    f32 = np.float32

    def uniform(lo: float, hi: float, *shape: int) -> np.ndarray:
        return (lo + (hi - lo) * rng.random((b, *shape), dtype=f32)).astype(f32)

    # --- parameters, all drawn up front in a fixed order (determinism) ---
    scale = np.array([_SCALE[name] for name in CLASS_NAMES], f32)[labels]
    radius = uniform(0.32 * s, 0.44 * s) * scale  # circumradius, pixels
    margin = radius * f32(0.9)
    cx = margin + (s - 2 * margin) * rng.random(b, dtype=f32)
    cy = margin + (s - 2 * margin) * rng.random(b, dtype=f32)
    angle = uniform(0.0, 2 * math.pi)
    dark_background = rng.random(b) < 0.75  # else light background, dark shape
    low = uniform(0.0, 100.0, 3)
    high = uniform(150.0, 255.0, 3)
    bg_colour = np.where(dark_background[:, None], low, high)
    fg_colour = np.where(dark_background[:, None], high, low)
    grad_angle = uniform(0.0, 2 * math.pi)
    grad_amp = uniform(0.0, 40.0, 3)  # 0..255 units across the image
    n_dots = 4
    dot_x = uniform(0.0, s, n_dots)
    dot_y = uniform(0.0, s, n_dots)
    dot_r = uniform(0.6, 1.6, n_dots) * f32(s / 32.0)
    dot_on = rng.random((b, n_dots)) < 0.5
    dot_colour = uniform(0.0, 255.0, n_dots, 3)
    # uniform pixel noise with a standard deviation of about 8 (0..255 units)
    img = rng.integers(0, 256, (b, 3, size, size), dtype=np.uint8).astype(f32)
    img -= f32(127.5)
    img *= f32(8.0 * math.sqrt(12.0) / 256.0)

    # --- pixel grid (pixel centres), shared by the whole batch ---
    coords = np.arange(size, dtype=f32) + f32(0.5)
    gx = coords[None, None, :]  # (1, 1, S)
    gy = coords[None, :, None]  # (1, S, 1)

    # background: base colour + linear gradient (-0.7..0.7 across) + noise
    u = np.cos(grad_angle)[:, None, None] * (gx - s / 2) + np.sin(grad_angle)[:, None, None] * (gy - s / 2)
    u /= f32(s)
    img += bg_colour[:, :, None, None]
    img += grad_amp[:, :, None, None] * u[:, None]

    # distractor dots (small, so they never look like a shape)
    for j in range(n_dots):
        on = np.flatnonzero(dot_on[:, j])
        d = np.hypot(gx - dot_x[on, j, None, None], gy - dot_y[on, j, None, None]) - dot_r[on, j, None, None]
        keep = np.clip(f32(0.5) + d, 0.0, 1.0)[:, None]  # 1 - coverage
        colour = dot_colour[on, j, :, None, None]
        sub = img[on]
        sub -= colour  # blend in place: img = colour + (img - colour) * (1 - coverage)
        sub *= keep
        sub += colour
        img[on] = sub

    # the shape: coordinates relative to its centre, rotated into its frame
    dx = gx - cx[:, None, None]
    dy = gy - cy[:, None, None]
    cos_a = np.cos(angle)[:, None, None]
    sin_a = np.sin(angle)[:, None, None]
    px = cos_a * dx + sin_a * dy
    py = cos_a * dy - sin_a * dx
    sdf = np.empty_like(px)
    for k, name in enumerate(CLASS_NAMES):
        idx = np.flatnonzero(labels == k)
        if idx.size:
            sdf[idx] = _SDF[name](px[idx], py[idx], radius[idx, None, None])
    keep = np.clip(f32(0.5) + sdf, 0.0, 1.0)[:, None]  # 1 - coverage
    colour = fg_colour[:, :, None, None]
    img -= colour
    img *= keep
    img += colour
    return img


# --- signed distance functions (pixels; negative inside) ---


def _sd_circle(px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.hypot(px, py) - r


def _sd_ring(px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    thickness = np.maximum(0.16 * r, 1.2)
    return np.abs(np.hypot(px, py) - (r - thickness)) - thickness


def _sd_box(px: np.ndarray, py: np.ndarray, hx: np.ndarray, hy: np.ndarray) -> np.ndarray:
    qx = np.abs(px) - hx
    qy = np.abs(py) - hy
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    return outside + inside


def _sd_cross(px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    arm = 0.95 * r
    half_width = np.maximum(0.26 * r, 1.0)
    return np.minimum(_sd_box(px, py, arm, half_width), _sd_box(px, py, half_width, arm))


def _sd_bar(px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    return _sd_box(px, py, r, np.maximum(0.25 * r, 1.3))


def _sd_star(px: np.ndarray, py: np.ndarray, r: np.ndarray, n: int, m: float) -> np.ndarray:
    """Regular star with ``n`` points and circumradius ``r``; ``m`` = 2 gives a polygon.

    After Inigo Quilez's ``sdStar`` (exact distance for star polygons).
    """
    an = math.pi / n
    en = math.pi / m
    acx, acy = math.cos(an), math.sin(an)
    ecx, ecy = math.cos(en), math.sin(en)
    bn = np.remainder(np.arctan2(px, py), 2 * an) - an
    length = np.hypot(px, py)
    qx = length * np.cos(bn) - r * acx
    qy = length * np.abs(np.sin(bn)) - r * acy
    t = np.minimum(np.maximum(-(qx * ecx + qy * ecy), 0), r * (acy / ecy))
    qx += ecx * t
    qy += ecy * t
    return np.hypot(qx, qy) * np.sign(qx)


_SDF: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": _sd_circle,
    "ring": _sd_ring,
    "triangle": lambda px, py, r: _sd_star(px, py, r, 3, 2.0),
    "star": lambda px, py, r: _sd_star(px, py, r, 5, 3.0),
    "cross": _sd_cross,
    "bar": _sd_bar,
}
