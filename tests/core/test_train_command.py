"""The train options that reproduce the window's settings, checked against the real command-line parser."""

from __future__ import annotations

import dataclasses

import pytest

from cvstudio.cli import _train_spec, build_parser
from cvstudio.core.models import get_preset
from cvstudio.core.specs import DataConfig, LayerSpec, ModelSpec, TrainConfig
from cvstudio.core.train_command import nearest_preset, train_command, without_options


def parsed(args):
    return build_parser().parse_args(["train", *args])


@pytest.mark.parametrize("name, knobs", [
    ("convnet", {}),
    ("convnet-width", {"width": 24, "depth": 3}),
    ("mlp", {"width": 40, "dropout": 0.3}),
    ("mlp-deep", {"depth": 2, "batchnorm": True}),
    ("resnet", {"width": 8, "depth": 1}),
    ("convnet-dropout", {"dropout": 0.25}),
    ("airbench", {}),
    ("airbench", {"width": 16, "depth": 2}),  # the stem stays 24 wide: the width is the second layer's
])
def test_a_preset_with_knobs_comes_back_from_its_options(name, knobs):
    spec = get_preset(name, **knobs)
    command = train_command(DataConfig(), spec, TrainConfig())
    assert command.problems == ()
    assert _train_spec(parsed(command.args)) == spec


def test_training_and_data_settings_come_back_from_the_options():
    data = DataConfig(source="shapes", classes=("star", "ring"), val_fraction=0.3, augment="flip-crop", seed=5)
    train = TrainConfig(optimizer="sgd", lr=0.037, momentum=0.5, nesterov=True, weight_decay=1e-4, l1=1e-5,
                        batch_size=16, epochs=3, seed=5, stop_loss=0.01, patience=2, schedule="cosine",
                        label_smoothing=0.1, amp=True, clip_grad=1.5, device="cuda:1")
    args = parsed(train_command(data, get_preset("convnet"), train).args)
    assert (args.dataset, args.classes, args.val_fraction, args.augment) == ("shapes", "star,ring", 0.3, "flip-crop")
    assert (args.lr, args.momentum, args.nesterov, args.weight_decay, args.l1) == (0.037, 0.5, True, 1e-4, 1e-5)
    assert (args.batch_size, args.epochs, args.seed, args.stop_loss, args.patience) == (16, 3, 5, 0.01, 2)
    assert (args.schedule, args.label_smoothing, args.amp, args.clip_grad) == ("cosine", 0.1, True, 1.5)
    assert args.device == "cuda"  # each trial sees only its own GPU


def test_a_hand_edited_spec_is_named_as_a_problem_and_the_nearest_preset_offered():
    base = get_preset("convnet-relu")
    edited = ModelSpec("my net", base.layers[:3] + (LayerSpec("conv", out=5, kernel=5),) + base.layers[3:])
    command = train_command(DataConfig(), edited, TrainConfig())
    assert len(command.problems) == 1 and "edited by hand" in command.problems[0]
    assert "--model" not in command.args
    assert nearest_preset(edited) == "convnet-relu"
    override = train_command(DataConfig(), edited, TrainConfig(), model_override=["--model", "convnet-relu"])
    assert override.problems == () and _train_spec(parsed(override.args)) == get_preset("convnet-relu")


def test_an_edited_airbench_is_nearest_to_airbench():
    base = get_preset("airbench", depth=2)
    edited = ModelSpec("my net", base.layers[:-1] + (LayerSpec("dropout", p=0.2), base.layers[-1]))
    assert nearest_preset(edited) == "airbench"
    assert train_command(DataConfig(), edited, TrainConfig()).problems


def test_a_renamed_but_unchanged_preset_is_still_expressible():
    spec = dataclasses.replace(get_preset("mlp", width=16), name="tiny mlp")
    assert _train_spec(parsed(train_command(DataConfig(), spec, TrainConfig()).args)).layers == spec.layers


def test_settings_without_an_option_are_problems():
    command = train_command(DataConfig(grayscale=True, seed=1), get_preset("mlp"), TrainConfig(seed=2))
    assert any("grayscale" in p for p in command.problems) and any("seed" in p for p in command.problems)


def test_swept_options_are_left_out_of_the_base():
    args = ["--model", "convnet", "--lr", "0.1", "--amp", "--epochs", "2"]
    assert without_options(args, {"--lr"}, {"--amp"}) == ["--model", "convnet", "--epochs", "2"]
