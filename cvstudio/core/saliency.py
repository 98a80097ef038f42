"""Where a classifier looked: Grad-CAM for convnets, input gradients for MLPs.

Both answer "which pixels of this input made the model pick class *c*?" with
a heatmap: float32 (H, W) at the model's input size, scaled to 0..1 (1 = the
most important place), returned as numpy with the class it explains.

- **Grad-CAM** (Selvaraju et al. 2017) weights the feature maps of the last
  convolutional stage (after its activation, before pooling) by the mean
  gradient of the class score over each map, keeps the positive sum and
  upsamples it bilinearly to the input size. The score is the class's logit
  (a trailing LogSoftmax is skipped).
- **Input gradients** ("vanilla" saliency, Simonyan et al. 2014) are the
  absolute gradient of the score with respect to each input pixel, the largest
  over the channels, scaled by their 99th percentile: the only choice for a
  network without convolutions.

The functions never register hooks, change ``requires_grad`` of parameters
or accumulate into ``.grad``: they run the layers of the ``nn.Sequential``
one by one and ask ``torch.autograd.grad`` for exactly the gradient they need.
A model can therefore be explained in one thread while another thread
classifies with it.

:func:`colorize` and :func:`overlay` turn a heatmap into pictures (RGBA for a
GUI to paint over the image, or RGB blended for files). Nothing here imports Qt.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvstudio.core.models.torchvision_models import STAGES_ATTR

METHODS = ("auto", "grad-cam", "input-gradient")
GRADIENT_PERCENTILE = 99.0  # input gradients are scaled so that this percentile maps to 1

# Element-wise modules that belong to the conv stage before them (Grad-CAM reads after them).
_ELEMENTWISE = (
    nn.ReLU,
    nn.Tanh,
    nn.GELU,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.SiLU,
    nn.BatchNorm2d,
)


@dataclass(frozen=True)
class Saliency:
    """A heatmap for one image and one class."""

    heatmap: np.ndarray = field(repr=False)  # float32 (H, W) in 0..1 at the model's input size
    method: str  # "grad-cam" or "input-gradient"
    target: int  # index of the class explained
    probability: float  # the model's probability of that class for this image
    layer: str | None = None  # Grad-CAM: name of the conv stage used (e.g. "conv2"); None for input gradients

    @property
    def description(self) -> str:
        """Short text for a caption, e.g. 'Grad-CAM on conv2' or 'input gradients'."""
        if self.method == "grad-cam":
            return f"Grad-CAM on {self.layer}" if self.layer else "Grad-CAM"
        return "input gradients"


# --- finding the layer ----------------------------------------------------------------------


def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def _children(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    return list(model.named_children()) if isinstance(model, nn.Sequential) else None


def _cam_stage(children: list[tuple[str, nn.Module]]) -> tuple[int, str] | None:
    """(index of the child whose output Grad-CAM reads, name of the conv stage) or None."""
    last = None
    for i, (_, child) in enumerate(children):
        if _has_conv(child):
            last = i
    if last is None:
        return None
    name = children[last][0]
    end = last
    while end + 1 < len(children) and isinstance(children[end + 1][1], _ELEMENTWISE):
        end += 1
    return end, name


def last_conv_layer(model: nn.Module) -> str | None:
    """Name of the conv stage Grad-CAM uses (e.g. 'conv2', 'res3'), or None for a model without convolutions."""
    children = _children(model)
    if children is not None:
        stage = _cam_stage(children)
        return None if stage is None else stage[1]
    stages = [n for n in getattr(model, STAGES_ATTR, None) or () if _has_conv(model.get_submodule(n))]
    if stages:  # a torchvision architecture: the output of its last conv stage (layer4, features.12, ...)
        return stages[-1]
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def saliency_method(model: nn.Module) -> str:
    """'grad-cam' for a network with a convolution, else 'input-gradient'."""
    return "grad-cam" if last_conv_layer(model) is not None else "input-gradient"


# --- computing ------------------------------------------------------------------------------


def _prepare(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one normalized image (C, H, W) or (1, C, H, W), got shape {tuple(x.shape)}")
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = x.device
    # A fresh leaf: gradients flow even if the parameters are frozen, and the caller's tensor is untouched.
    return x.detach().to(device=device, dtype=torch.float32).clone().requires_grad_(True)


def _strip_log_softmax(children: list[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    if children and isinstance(children[-1][1], nn.LogSoftmax):
        return children[:-1]
    return children


def _pick(logits: torch.Tensor, target: int | None) -> tuple[int, float]:
    probs = torch.softmax(logits.detach()[0].float(), dim=0)
    n = int(probs.numel())
    if target is None:
        target = int(probs.argmax())
    elif not 0 <= int(target) < n:
        raise ValueError(f"target class {target} is out of range (the model has {n} classes)")
    return int(target), float(probs[int(target)])


def _scale01(a: torch.Tensor) -> np.ndarray:
    top = float(a.max()) if a.numel() else 0.0
    if not np.isfinite(top) or top <= 0:
        return np.zeros(tuple(a.shape), np.float32)
    return (a / top).clamp_(0, 1).detach().cpu().numpy().astype(np.float32)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None = None, layer: str | None = None) -> Saliency:
    """Grad-CAM heatmap of normalized input ``x`` (C, H, W) for class ``target`` (default: the predicted one).

    ``layer`` names a child of the ``nn.Sequential`` to read instead of the
    last conv stage. Raises ValueError for a model without convolutions.
    """
    children = _children(model)
    if children is None:
        return _grad_cam_hooked(model, x, target, layer)
    children = _strip_log_softmax(children)
    if layer is None:
        stage = _cam_stage(children)
        if stage is None:
            raise ValueError("Grad-CAM needs a convolutional layer; use input gradients for this model")
        end, name = stage
    else:
        names = [n for n, _ in children]
        if layer not in names:
            raise ValueError(f"the model has no layer {layer!r} (layers: {', '.join(names)})")
        end, name = names.index(layer), layer
    h, w = x.shape[-2:]
    with torch.inference_mode(False), torch.enable_grad():
        out = _prepare(model, x)
        acts = None
        for i, (_, child) in enumerate(children):
            out = child(out)
            if i == end:
                acts = out
        if acts is None or acts.ndim != 4:
            raise ValueError(f"layer {name!r} does not output feature maps")
        target, prob = _pick(out, target)
        (grads,) = torch.autograd.grad(out[0, target], acts)
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * acts).sum(dim=1, keepdim=True)).detach()
        cam = F.interpolate(cam, size=(int(h), int(w)), mode="bilinear", align_corners=False)[0, 0]
    return Saliency(_scale01(cam), "grad-cam", target, prob, name)


def _grad_cam_hooked(model: nn.Module, x: torch.Tensor, target: int | None, layer: str | None) -> Saliency:
    """Grad-CAM for models that are not an nn.Sequential: a forward hook that only records this thread's call."""
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    if not convs:
        raise ValueError("Grad-CAM needs a convolutional layer; use input gradients for this model")
    name = layer if layer is not None else last_conv_layer(model)
    module = dict(model.named_modules()).get(name)
    if module is None:
        raise ValueError(f"the model has no layer {name!r}")
    me = threading.get_ident()
    seen: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inp: Any, output: torch.Tensor) -> None:
        if threading.get_ident() == me:
            seen.append(output)

    h, w = x.shape[-2:]
    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            out = model(_prepare(model, x))
            target, prob = _pick(out, target)
            acts = seen[-1]
            (grads,) = torch.autograd.grad(out[0, target], acts)
            cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * acts).sum(dim=1, keepdim=True)).detach()
            cam = F.interpolate(cam, size=(int(h), int(w)), mode="bilinear", align_corners=False)[0, 0]
    finally:
        handle.remove()
    return Saliency(_scale01(cam), "grad-cam", target, prob, name)


def input_gradient(model: nn.Module, x: torch.Tensor, target: int | None = None) -> Saliency:
    """|d score / d pixel|, the largest over channels, scaled to 0..1 (robust to a few extreme pixels)."""
    children = _children(model)
    with torch.inference_mode(False), torch.enable_grad():
        inp = _prepare(model, x)
        if children is None:
            out = model(inp)
        else:
            out = inp
            for _, child in _strip_log_softmax(children):
                out = child(out)
        target, prob = _pick(out, target)
        (grads,) = torch.autograd.grad(out[0, target], inp)
    g = grads.detach()[0].abs().amax(dim=0).float().cpu().numpy()
    top = float(np.percentile(g, GRADIENT_PERCENTILE)) if g.size else 0.0
    if not np.isfinite(top) or top <= 0:
        top = float(g.max()) if g.size else 0.0
    heat = np.zeros_like(g, np.float32) if top <= 0 else np.clip(g / top, 0, 1).astype(np.float32)
    return Saliency(heat, "input-gradient", target, prob, None)


def compute_saliency(model: nn.Module, x: torch.Tensor, target: int | None = None, method: str = "auto") -> Saliency:
    """Grad-CAM or input gradients of normalized input ``x``; ``method='auto'`` picks by architecture."""
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r} (known: {', '.join(METHODS)})")
    if method == "auto":
        method = saliency_method(model)
    if method == "grad-cam":
        return grad_cam(model, x, target)
    return input_gradient(model, x, target)


def explain(classifier: Any, image: Any, target: int | None = None, method: str = "auto") -> Saliency:
    """Saliency for one decoded image as a :class:`~cvstudio.core.inference.Classifier` sees it.

    ``image`` is uint8 (C, H, W) — what ``decode_image`` returns — as a tensor
    or numpy array (an (H, W, C) or (H, W) array is accepted too). It is
    normalized with the checkpoint's mean and std exactly as for classifying.
    """
    from cvstudio.core.inference import normalize

    t = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    c, h, w = classifier.input_shape
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim == 3 and tuple(t.shape) != (c, h, w) and tuple(t.shape) == (h, w, c):
        t = t.permute(2, 0, 1)
    if tuple(t.shape) != (c, h, w):
        raise ValueError(f"expected an image of shape {(c, h, w)}, got {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        raise TypeError(f"expected a uint8 image, got {t.dtype}")
    x = normalize(t.contiguous(), classifier.meta.mean, classifier.meta.std)
    return compute_saliency(classifier.model, x, target, method)


# --- pictures -------------------------------------------------------------------------------


def turbo(values: np.ndarray) -> np.ndarray:
    """Google's Turbo colour map (polynomial fit) of values in 0..1 -> float32 RGB in 0..1, shape (..., 3)."""
    t = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    r = 0.13572138 + t * (4.61539260 + t * (-42.66032258 + t * (132.13108234 + t * (-152.94239396 + t * 59.28637943))))
    g = 0.09140261 + t * (2.19418839 + t * (4.84296658 + t * (-14.18503333 + t * (4.27729857 + t * 2.82956604))))
    b = 0.10667330 + t * (12.64194608 + t * (-60.58204836 + t * (110.36276771 + t * (-89.90310912 + t * 27.34824973))))
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0).astype(np.float32)


def colorize(heatmap: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """uint8 RGBA (H, W, 4): Turbo colours, opacity growing with the heat (0 where the model did not look).

    Meant to be painted over the image (a GUI can scale it smoothly and choose the opacity).
    """
    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    rgba = np.empty(h.shape + (4,), np.uint8)
    rgba[..., :3] = (turbo(h) * 255.0 + 0.5).astype(np.uint8)
    rgba[..., 3] = (np.clip(alpha, 0.0, 1.0) * np.sqrt(h) * 255.0 + 0.5).astype(np.uint8)
    return rgba


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend :func:`colorize` of ``heatmap`` over ``image`` -> uint8 RGB (H, W, 3).

    ``image`` is uint8 (H, W, 3), (H, W), (C, H, W) with C in (1, 3); the
    heatmap must have the same height and width.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected an RGB or grayscale image, got shape {np.asarray(image).shape}")
    if img.shape[:2] != np.shape(heatmap):
        raise ValueError(f"heatmap {np.shape(heatmap)} does not match the image {img.shape[:2]}")
    rgba = colorize(heatmap, alpha).astype(np.float32) / 255.0
    a = rgba[..., 3:4]
    out = img.astype(np.float32) * (1.0 - a) + rgba[..., :3] * 255.0 * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


__all__ = [
    "METHODS",
    "Saliency",
    "colorize",
    "compute_saliency",
    "explain",
    "grad_cam",
    "input_gradient",
    "last_conv_layer",
    "overlay",
    "saliency_method",
    "turbo",
]
