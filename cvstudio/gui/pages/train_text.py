"""The Train page's words: labels of settings and outcomes, durations, run labels for the legend."""

from __future__ import annotations

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
