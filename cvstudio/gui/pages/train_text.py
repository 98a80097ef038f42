"""The Train page's words: how a run ended, and the first-run hint (plain functions, no widgets)."""

from __future__ import annotations

from typing import Any

STATUS_TEXT = {
    "finished": "Finished",
    "stopped": "Stopped",
    "early_stopped": "Stopped early",
    "loss_reached": "Loss threshold reached",
    "diverged": "Diverged",
    "failed": "Failed",
}


def sentence(text: str) -> str:
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
