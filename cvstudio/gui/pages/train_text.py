"""The Train page's words: labels of settings, how a run ended, durations, run labels, the first-run hint."""

from __future__ import annotations

from typing import Any

from cvstudio.core.specs import DataConfig, ModelSpec, TrainConfig

OPTIMIZER_LABELS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
AUGMENT_LABELS = {"none": "None", "flip-crop": "Random flip + crop"}
STATUS_TEXT = {
    "finished": "Finished",
    "stopped": "Stopped",
    "early_stopped": "Stopped early",
    "loss_reached": "Loss threshold reached",
    "diverged": "Diverged",
    "failed": "Failed",
}

def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def run_label(spec: ModelSpec, config: TrainConfig, data_config: DataConfig | None) -> str:
    """A legend label built from the settings that matter, e.g. 'convnet · sgd lr 0.01 · bs 64'."""
    opt = f"{config.optimizer} lr {config.lr:g}"
    if config.optimizer == "sgd" and config.momentum:
        opt += f" mom {config.momentum:g}" + (" nesterov" if config.nesterov else "")
    parts = [spec.name, opt, f"bs {config.batch_size}"]
    if config.weight_decay:
        parts.append(f"wd {config.weight_decay:g}")
    if config.l1:
        parts.append(f"L1 {config.l1:g}")
    if data_config is not None and data_config.augment != "none":
        parts.append(data_config.augment)
    if config.seed:
        parts.append(f"seed {config.seed}")
    return " · ".join(parts)


def sentence(text: str) -> str:
    """A message as a sentence: capitalised, without a trailing full stop (the caller adds its own)."""
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] if text else text


def first_run_text(state: Any) -> str:
    """What the first-run hint says: the run Train would start now (the start-up default: about 30 s on a CPU)."""
    if state.spec is None or state.dataset is None:
        return ""
    default = state.spec.name == "convnet" and state.data_config.source == "shapes" and state.train_config.epochs <= 10
    data = "the built-in shapes" if state.data_config.source == "shapes" else state.dataset.description
    return (f"Press Train to train the {state.spec.name} on {data}"
            + (" — about 30 s." if default else "."))


def outcome_sentence(status: str, message: str) -> str:
    """How a run ended, said once: "Stopped by the user during epoch 3", not "Stopped: Stopped by ..."."""
    title = STATUS_TEXT.get(status, status)
    if not message.strip():
        return title
    if message.strip().lower().startswith(title.lower()):
        return sentence(message)
    return f"{title}: {sentence(message)}"
