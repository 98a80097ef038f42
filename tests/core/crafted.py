"""Crafted checkpoints for the hostile tests: made by the tests, never committed as binaries.

``crafted_checkpoint`` writes a real, loadable checkpoint, then lets a test edit
its metadata JSON freely (strings, numbers, structure) and writes the
safetensors file directly, bypassing every check CV Studio makes on save --
exactly what someone crafting a file to send a user could do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

# Strings that break out of a hand-quoted literal, docstring or comment. Each, if it ever
# became code, would create the file named by MARKER_TOKEN (replaced by the test's path).
MARKER_TOKEN = "MARKER"
_RUN = '__import__("pathlib").Path(r"MARKER").touch()'
HOSTILE_STRINGS = (
    f'"""\n{_RUN}\n"""',
    f"'''\n{_RUN}\n'''",
    f'"); {_RUN}; ("',
    f"'); {_RUN}; ('",
    f"a\\\n{_RUN}",  # backslash-newline
    f"x\u2028{_RUN}",  # a line separator Python's tokenizer does not treat as a newline, editors do
    f"x\r{_RUN}",
    f"{{{_RUN}}}",  # f-string braces
    f"# comment\n{_RUN}",
    "trailing backslash \\",
)


def hostile(text: str, marker: Path) -> str:
    return text.replace(MARKER_TOKEN, str(marker))


def base_document(num_classes: int = 3) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tensors and metadata document of a valid small convnet checkpoint."""
    import torch

    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.models import build_model, get_preset
    from cvstudio.core.specs import DataConfig, TrainConfig

    torch.manual_seed(0)
    spec = get_preset("convnet")
    model = build_model(spec, (3, 32, 32), num_classes).eval()
    meta = CheckpointMeta(
        model_spec=spec,
        class_names=tuple(f"class{i}" for i in range(num_classes)),
        input_shape=(3, 32, 32),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        train_config=TrainConfig(),
        data_config=DataConfig(),
        dataset="crafted",
        metrics={"train_acc": 0.5, "val_acc": 0.5, "val_loss": 0.7},
    )
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    return tensors, meta.to_dict()


def crafted_checkpoint(
    path: Path,
    edit: Callable[[dict[str, Any]], Any] | None = None,
    *,
    raw_metadata: str | None = None,
    num_classes: int = 3,
) -> Path:
    """Write a checkpoint whose metadata ``edit`` changed in place (or is ``raw_metadata`` verbatim)."""
    from safetensors.torch import save_file

    tensors, document = base_document(num_classes)
    if edit is not None:
        edit(document)
    text = raw_metadata if raw_metadata is not None else json.dumps(document)
    save_file(tensors, str(path), metadata={"cvstudio": text})
    return path
