"""The PyTorch source equivalent to a ModelSpec: what the Model page shows and
``cvstudio export --format python`` writes.

The generated class has one attribute per module with the same names as the
built nn.Sequential, so its state_dict keys match and a checkpoint's weights
load into it unchanged.
"""

from __future__ import annotations

import inspect
import textwrap

from cvstudio.core.models.blocks import ResidualBlock
from cvstudio.core.models.builder import plan_model, summarize
from cvstudio.core.specs import ModelSpec


def docstring_literal(text: str) -> str:
    """``text`` as a docstring literal: triple-quoted when that is plainly safe, else ``repr()`` (user text inside)."""
    if text.isprintable() and not any(ch in text for ch in '"\\'):
        return f'"""{text}"""'
    return repr(text)


def model_source(spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int, class_name: str = "Net") -> str:
    """A self-contained module defining ``class_name``; only torch is imported.

    For a torchvision architecture ``class_name`` is a function building
    ``torchvision.models.<arch>(weights=...)`` with the replaced head (torchvision is imported too).
    """
    if spec.arch is not None:
        from cvstudio.core.models.torchvision_models import arch_source

        return arch_source(spec, input_shape, num_classes, class_name)
    planned = plan_model(spec, input_shape, num_classes)
    total = summarize(spec, input_shape, num_classes).total_params
    c, h, w = input_shape
    lines = ["import torch", "from torch import nn", ""]
    if any(p.kind == "residual" for p in planned):
        lines += ["", textwrap.dedent(inspect.getsource(ResidualBlock)).rstrip(), ""]
    lines += [
        "",
        f"class {class_name}(nn.Module):",
        f"    {docstring_literal(f'{spec.name}: input {c}x{h}x{w}, {num_classes} classes, {total:,} trainable parameters.')}",
        "",
        *(["    # Outputs are log-probabilities (LogSoftmax): train it with nn.NLLLoss().", ""] if spec.outputs_log_probs else []),
        "    def __init__(self):",
        "        super().__init__()",
    ]
    width = max(len(p.name) for p in planned)
    for p in planned:
        shape = "x".join(str(s) for s in p.out_shape)
        lines.append(f"        self.{p.name:<{width}} = {p.code}  # -> {shape}")
    lines += ["", "    def forward(self, x):"]
    for p in planned:
        lines.append(f"        x = self.{p.name}(x)")
    lines += ["        return x", ""]
    lines += [
        "",
        'if __name__ == "__main__":',
        f"    model = {class_name}()",
        f"    print(model(torch.zeros(1, {c}, {h}, {w})).shape)  # torch.Size([1, {num_classes}])",
        "    print(sum(p.numel() for p in model.parameters()))",
        "",
    ]
    return "\n".join(lines)
