"""A faster Tanh for the CPU, swapped in where CV Studio runs a model (training, evaluation, classifying).

PyTorch's CPU ``tanh`` goes through a vendor math library whose speed depends
on the processor: on the AMD EPYC these builds are measured on it takes
2.2 ms for a million floats on one thread, against 0.23 ms for ``sigmoid``
(PyTorch's own vectorized kernel). The identity tanh(x) = 2·sigmoid(2x) − 1
gives the same values to within 2.5e-7 in 0.41 ms, and backward needs only the
output, as tanh's own does. Which of the two a machine runs faster is measured
once per process (:func:`sigmoid_form_is_faster`), so a processor whose
library tanh is quick keeps it.

The cheatsheet's Tanh presets (the MLPs and the convnet) spend most of their
CPU time in tanh: with the swap the convnet's training loop goes from 1.36x to
1.70-1.89x the cheatsheet's (``benchmarks/train_speed.py --only loop``).

Models are built with plain ``nn.Tanh`` (the exported code says exactly what
the model is); :func:`use_fast_tanh` swaps in :class:`FastTanh`, a subclass
without state, so checkpoints and ``isinstance`` checks are unchanged, and
TorchScript and ONNX export (``torch.export``) see a plain tanh. Training and
evaluation hand a model back with the Tanh it came with (:func:`use_library_tanh`
unless it came swapped, as a Classifier's model does): a model built and
trained answers exactly as one reloaded from its checkpoint.
"""

from __future__ import annotations

import functools
import time

import torch
from torch import nn

MIN_ELEMENTS = 8192  # below this the library's tanh is as fast (measured: 64x128 even, 64x32 faster)


class _SigmoidTanh(torch.autograd.Function):
    """tanh through sigmoid; backward from the output alone (``tanh_backward``, as ``torch.tanh``'s)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = _sigmoid_form(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def _sigmoid_form(x: torch.Tensor) -> torch.Tensor:
    y = torch.mul(x, 2.0)  # the one new tensor; the rest works in place
    return y.sigmoid_().mul_(2.0).sub_(1.0)


def fast_tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(x)`` computed as 2·sigmoid(2x) − 1 (differentiable); for CPU tensors, where it pays."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _SigmoidTanh.apply(x)
    return _sigmoid_form(x)


class FastTanh(nn.Tanh):
    """``nn.Tanh`` that uses :func:`fast_tanh` for large CPU tensors; ``torch.tanh`` elsewhere (GPU, small
    tensors, TorchScript, ``torch.compile`` and export, which see a plain tanh)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            return torch.tanh(input)
        return self._eager_forward(input)

    @torch.jit.unused
    def _eager_forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.device.type != "cpu" or input.numel() < MIN_ELEMENTS or torch.compiler.is_compiling():
            return torch.tanh(input)
        return fast_tanh(input)


@functools.cache
def sigmoid_form_is_faster() -> bool:
    """Whether this machine computes tanh faster through sigmoid (measured once: about 5 ms)."""
    x = torch.randn(1 << 17)
    out = torch.empty_like(x)

    def best(fn) -> float:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times[1:])  # the first call may page in the buffers

    with torch.inference_mode():
        library = best(lambda: torch.tanh(x, out=out))
        composed = best(lambda: _sigmoid_form(x))
    return composed < 0.75 * library  # a clear win only: both are correct


def use_fast_tanh(model: nn.Module) -> int:
    """Replace ``model``'s ``nn.Tanh`` modules with :class:`FastTanh` in place when this machine gains by it;
    returns how many were replaced."""
    found = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
             if type(child) is nn.Tanh]
    if not found or not sigmoid_form_is_faster():
        return 0
    for parent, name in found:
        setattr(parent, name, FastTanh())
    return len(found)


def has_fast_tanh(model: nn.Module) -> bool:
    """Whether :func:`use_fast_tanh` swapped ``model``'s Tanh (a Classifier keeps its model swapped)."""
    return any(type(m) is FastTanh for m in model.modules())


def use_library_tanh(model: nn.Module) -> int:
    """Undo :func:`use_fast_tanh`: put plain ``nn.Tanh`` back, so that a model handed back to its owner
    computes bit for bit what a copy loaded from its checkpoint computes; returns how many were replaced."""
    found = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
             if type(child) is FastTanh]
    for parent, name in found:
        setattr(parent, name, nn.Tanh())
    return len(found)


__all__ = ["FastTanh", "MIN_ELEMENTS", "fast_tanh", "has_fast_tanh", "sigmoid_form_is_faster", "use_fast_tanh",
           "use_library_tanh"]
