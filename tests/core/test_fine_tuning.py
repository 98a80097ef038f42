"""Fine-tuning knobs (issue 13): freeze modes, backbone LR, schedules, label smoothing, AMP, clipping."""

import math

import pytest
import torch

from cvstudio.core.errors import ConfigError
from cvstudio.core.models import get_preset
from cvstudio.core.models.torchvision_models import arch_spec
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import fit, new_model
from cvstudio.core.training.freeze import apply_freeze
from cvstudio.core.training.loop import make_loss, make_optimizer
from tests.conftest import make_tiny_bundle


@pytest.fixture(scope="module")
def photos():
    return make_tiny_bundle(n_train=32, n_val=16, size=32)


def _cpu(**kw):
    return TrainConfig(device="cpu", batch_size=16, **kw)


def test_linear_probe_trains_only_the_head_and_keeps_batchnorm_statistics(photos):
    model = new_model(arch_spec("resnet18"), photos, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = fit(model, photos, _cpu(epochs=1, lr=0.1, momentum=0.9, weight_decay=1e-3, freeze="backbone"))
    assert result.status == "finished"
    assert result.params == 512 * 2 + 2  # only the head is trainable
    after = model.state_dict()
    changed = [k for k in after if not torch.equal(after[k], before[k])]
    assert changed and all(k.startswith("fc.") for k in changed)  # BN running stats and all other weights unchanged


def test_partial_fine_tuning_leaves_the_frozen_stages_untouched(photos):
    model = new_model(arch_spec("resnet18"), photos, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, photos, _cpu(epochs=1, lr=0.1, momentum=0.9, freeze="upto:layer3", backbone_lr=0.01))
    after = model.state_dict()
    frozen = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")
    assert all(torch.equal(after[k], before[k]) for k in after if k.startswith(frozen))
    assert not torch.equal(after["layer4.0.conv1.weight"], before["layer4.0.conv1.weight"])
    assert not torch.equal(after["layer4.0.bn1.running_mean"], before["layer4.0.bn1.running_mean"])


def test_freeze_up_to_a_stage(photos):
    model = new_model(arch_spec("resnet18"), photos, 0)
    frozen = apply_freeze(model, "upto:layer2")
    assert frozen == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2"]
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    with pytest.raises(ConfigError, match="no stage named 'layer9'.*layer4"):
        apply_freeze(new_model(arch_spec("resnet18"), photos, 0), "upto:layer9")
    with pytest.raises(ConfigError, match="head"):
        apply_freeze(new_model(arch_spec("resnet18"), photos, 0), "upto:fc")
    preset = new_model(get_preset("convnet"), photos, 0)
    assert apply_freeze(preset, "upto:conv2")[-1] == "conv2"


def test_full_fine_tuning_gives_the_backbone_a_lower_learning_rate(photos):
    model = new_model(arch_spec("mobilenet_v3_small"), photos, 0)
    opt = make_optimizer(model, _cpu(lr=0.1, backbone_lr=0.01))
    head, backbone = opt.param_groups
    assert head["lr"] == 0.1 and backbone["lr"] == 0.01
    assert {id(p) for p in head["params"]} == {id(p) for p in model.classifier[3].parameters()}


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "step"])
def test_schedules_record_the_learning_rate_per_epoch(schedule):
    bundle = make_tiny_bundle(n_train=64, n_val=16)
    model = new_model(get_preset("convnet"), bundle, 0)
    result = fit(model, bundle, _cpu(epochs=3, lr=0.1, schedule=schedule))
    lrs = [h["lr"] for h in result.history_dicts()]
    assert len(lrs) == 3 and len(set(lrs)) == 3 if schedule != "step" else lrs == pytest.approx([0.1, 0.01, 0.001])
    if schedule == "onecycle":
        assert lrs[0] < lrs[1]  # warm-up


def test_label_smoothing_amp_and_clipping_train(photos):
    model = new_model(get_preset("convnet"), photos, 0)
    result = fit(model, photos, _cpu(epochs=2, lr=0.05, label_smoothing=0.1, amp=True, clip_grad=1.0))
    assert result.status == "finished" and all(math.isfinite(h.train_loss) for h in result.history)
    nll = make_loss("nll", 0.1)
    logp = torch.log_softmax(torch.randn(4, 3), 1)
    y = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(nll(logp, y), torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logp, y))


def test_bad_new_settings_are_rejected():
    for kw, match in (
        ({"schedule": "linear"}, "schedule"),
        ({"label_smoothing": 1.0}, "label smoothing"),
        ({"clip_grad": 0.0}, "clipping"),
        ({"clip_grad": float("inf")}, "finite"),
        ({"lr": float("nan")}, "finite"),
        ({"freeze": "upto:"}, "freeze"),
        ({"backbone_lr": -1.0}, "backbone"),
    ):
        with pytest.raises(ConfigError, match=match):
            TrainConfig(**kw)
    assert TrainConfig.from_dict(TrainConfig(schedule="onecycle", amp=True, freeze="backbone").to_dict()).amp


def test_fp16_with_grad_scaler_path_trains(photos, monkeypatch):
    """Where bf16 is unsupported (older CUDA GPUs) --amp uses fp16 + GradScaler; run that path on the CPU."""
    from cvstudio.core.training import loop

    monkeypatch.setattr(loop, "amp_settings", lambda device, enabled: (torch.float16, True) if enabled else (None, False))
    model = new_model(get_preset("convnet"), photos, 0)
    result = fit(model, photos, _cpu(epochs=2, lr=0.05, amp=True, clip_grad=0.5))
    assert result.status == "finished" and all(math.isfinite(h.train_loss) for h in result.history)


def test_amp_settings_choose_bf16_then_fp16():
    from cvstudio.core.training.loop import amp_settings

    assert amp_settings(torch.device("cpu"), False) == (None, False)
    assert amp_settings(torch.device("cpu"), True) == (torch.bfloat16, False)
    with pytest.raises(ConfigError, match="CPU and CUDA"):
        amp_settings(torch.device("mps"), True)


def test_amp_settings_on_cuda_pick_bf16_or_fp16_with_a_scaler(monkeypatch):
    from cvstudio.core.training.loop import amp_settings

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_settings(torch.device("cuda", 0), True) == (torch.bfloat16, False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # e.g. a V100 or T4
    assert amp_settings(torch.device("cuda", 0), True) == (torch.float16, True)
    assert amp_settings(torch.device("cuda", 0), False) == (None, False)


# --- the linear probe's cached features (core/training/probe.py) -----------------------------


def _count_backbone_passes(model):
    calls = []
    model.conv1.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_linear_probe_runs_the_backbone_once_per_image_and_matches_the_uncached_probe(photos, monkeypatch):
    from cvstudio.core.training import probe

    config = _cpu(epochs=3, lr=0.05, momentum=0.9, freeze="backbone")
    cached_model = new_model(arch_spec("resnet18"), photos, 0)
    passes = _count_backbone_passes(cached_model)
    cached = fit(cached_model, photos, config)
    assert len(passes) == 2  # one eval-size batch each for the 32 training and 16 validation images, for 3 epochs

    monkeypatch.setattr(probe, "CACHE_PROBE_FEATURES", False)
    plain_model = new_model(arch_spec("resnet18"), photos, 0)
    passes = _count_backbone_passes(plain_model)
    plain = fit(plain_model, photos, config)
    assert len(passes) > 3 * 2  # every epoch's steps and evaluations

    for a, b in zip(cached.history, plain.history):  # the same run, as the features are the same
        assert a.train_loss == pytest.approx(b.train_loss, abs=1e-4)
        assert a.val_loss == pytest.approx(b.val_loss, abs=1e-4)
        assert a.val_acc == b.val_acc
    assert cached.metrics == pytest.approx(plain.metrics, abs=1e-4)
    assert torch.allclose(cached_model.fc.weight, plain_model.fc.weight, atol=1e-4)


def test_no_feature_cache_with_augmentation_or_a_layer_after_the_head(photos):
    from cvstudio.core.training.probe import can_cache_features

    assert can_cache_features("backbone", augmenting=False, distributed=False)
    assert not can_cache_features("backbone", augmenting=True, distributed=False)  # the images change each epoch
    assert not can_cache_features("none", augmenting=False, distributed=False)
    assert not can_cache_features("backbone", augmenting=False, distributed=True)
    model = new_model(get_preset("mlp"), photos, 0)  # ends in LogSoftmax: the head's output is not the model's
    from cvstudio.core.training.loop import _head_is_last

    assert not _head_is_last(model)
    assert _head_is_last(new_model(arch_spec("resnet18"), photos, 0))
