import threading

import numpy as np
import pytest
import torch

from cvstudio.core.data.augment import random_crop, random_hflip
from cvstudio.core.data.batches import BatchLoader
from cvstudio.core.errors import ConfigError
from cvstudio.core.events import BatchesEnded, EpochEnded, FitEnded, FitStarted
from cvstudio.core.models import get_preset
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import RunControl, fit, new_model, resolve_device
from tests.conftest import make_tiny_bundle


class Recorder:
    def __init__(self):
        self.events = []

    def on_fit_started(self, e):
        self.events.append(e)

    def on_batches_ended(self, e):
        self.events.append(e)

    def on_epoch_ended(self, e):
        self.events.append(e)

    def on_fit_ended(self, e):
        self.events.append(e)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def _train(bundle, config, name="convnet", **kw):
    spec = get_preset(name)
    model = new_model(spec, bundle, config.seed)
    rec = Recorder()
    result = fit(model, bundle, config, loss=spec.loss, callbacks=[rec], **kw)
    return model, result, rec


def test_short_fit_reports_events_and_learns(tiny_bundle):
    model, result, rec = _train(tiny_bundle, TrainConfig(epochs=3, lr=0.05, batch_size=32, device="cpu"))
    started = rec.of(FitStarted)[0]
    assert started.batches_per_epoch == 8 and started.params == result.params
    batches = rec.of(BatchesEnded)
    assert sum(len(b.losses) for b in batches) == 3 * 8  # every step's loss is reported, in groups
    assert [e.epoch for e in rec.of(EpochEnded)] == [1, 2, 3]
    assert rec.of(FitEnded)[0].status == "finished"
    assert result.status == "finished" and len(result.history) == 3
    assert result.metrics["val_acc"] > 0.9
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert not model.training


def test_same_seed_gives_same_losses(tiny_bundle):
    config = TrainConfig(epochs=2, batch_size=32, seed=7, device="cpu")
    a = [np.concatenate([b.losses for b in _train(tiny_bundle, config)[2].of(BatchesEnded)])]
    b = [np.concatenate([b.losses for b in _train(tiny_bundle, config)[2].of(BatchesEnded)])]
    np.testing.assert_array_equal(a[0], b[0])
    c = np.concatenate([x.losses for x in _train(tiny_bundle, TrainConfig(epochs=2, batch_size=32, seed=8, device="cpu"))[2].of(BatchesEnded)])
    assert not np.array_equal(a[0], c)


def test_every_optimizer_and_penalties_train(tiny_bundle):
    for config in (
        TrainConfig(epochs=1, optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-3, device="cpu"),
        TrainConfig(epochs=1, optimizer="adam", lr=1e-3, l1=1e-4, device="cpu"),
        TrainConfig(epochs=1, optimizer="adamw", lr=1e-3, weight_decay=1e-2, device="cpu"),
    ):
        _, result, _ = _train(tiny_bundle, config)
        assert result.status == "finished" and np.isfinite(result.history[0].train_loss)


def test_l1_penalty_shrinks_weights(tiny_bundle):
    plain = _train(tiny_bundle, TrainConfig(epochs=2, device="cpu"))[0]
    sparse = _train(tiny_bundle, TrainConfig(epochs=2, l1=0.01, device="cpu"))[0]
    l1 = lambda m: sum(p.abs().sum().item() for p in m.parameters())
    assert l1(sparse) < l1(plain)


def test_early_stopping_on_patience(tiny_bundle):
    # lr 0 never improves after the first epoch
    _, result, _ = _train(tiny_bundle, TrainConfig(epochs=10, lr=1e-12, patience=2, device="cpu"))
    assert result.status == "early_stopped" and len(result.history) == 3 and result.best_epoch == 1


def test_loss_threshold_stop(tiny_bundle):
    _, result, _ = _train(tiny_bundle, TrainConfig(epochs=20, lr=0.05, stop_loss=0.5, device="cpu"))
    assert result.status == "loss_reached" and len(result.history) < 20
    assert result.history[-1].train_loss < 0.5


def test_nan_loss_stops_and_keeps_best_weights(tiny_bundle):
    spec = get_preset("convnet")
    model = new_model(spec, tiny_bundle, 0)
    saved = {}

    class PoisonAfterFirstEpoch:
        def on_epoch_ended(self, e):
            if e.epoch == 1:
                saved.update({k: v.clone() for k, v in model.state_dict().items()})
                with torch.no_grad():
                    model.fc2.weight.fill_(float("nan"))

    result = fit(model, tiny_bundle, TrainConfig(epochs=3, device="cpu"), callbacks=[PoisonAfterFirstEpoch()])
    assert result.status == "diverged"
    assert "epoch 2" in result.message and "lower learning rate" in result.message
    assert result.best_epoch == 1 and len(result.history) == 1
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, saved[k].to(v.dtype))  # the best (epoch 1) weights are back


def test_stop_is_checked_every_batch():
    bundle = make_tiny_bundle(n_train=2048)
    control = RunControl()

    class StopAfterFirstGroup:
        steps = []

        def on_batches_ended(self, e):
            self.steps.append(e.global_step)
            control.request_stop()

    spec = get_preset("convnet")
    model = new_model(spec, bundle, 0)
    cb = StopAfterFirstGroup()
    result = fit(model, bundle, TrainConfig(epochs=5, batch_size=8, device="cpu"), callbacks=[cb], control=control)
    assert result.status == "stopped" and len(result.history) == 0
    assert len(cb.steps) == 1  # no step ran after the stop request
    assert "val_acc" in result.metrics  # a stopped run still has metrics for its checkpoint


def test_pause_blocks_until_resumed(tiny_bundle):
    control = RunControl()
    control.pause()
    done = threading.Event()
    spec = get_preset("convnet")
    model = new_model(spec, tiny_bundle, 0)
    t = threading.Thread(target=lambda: (fit(model, tiny_bundle, TrainConfig(epochs=1, device="cpu"), control=control), done.set()))
    t.start()
    assert not done.wait(0.5)
    control.resume()
    assert done.wait(30)
    t.join()


def test_augmentation_batches():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).view(2, 1, 4, 4)
    cropped = random_crop(x, 1, g)
    assert cropped.shape == x.shape
    flipped = random_hflip(torch.stack([x[0]] * 64), g)
    n_flipped = sum(torch.equal(f, x[0].flip(2)) for f in flipped)
    assert 10 < n_flipped < 54


def test_batch_loader_normalizes_whole_batches(tiny_bundle):
    loader = BatchLoader(tiny_bundle.train, 100, "cpu", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    x, y = next(iter(loader))
    expected = (tiny_bundle.train.images[:100].float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(x, expected)
    assert [len(b[1]) for b in loader] == [100, 100, 56]


class _CountOps(torch.utils._python_dispatch.TorchDispatchMode):
    """The ATen operations run inside the block, in order (each one kernel on a GPU, views aside)."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


def test_a_shuffled_batch_is_gathered_cast_and_normalized_in_few_kernels(tiny_bundle):
    """Issue 12's GPU path: every kernel outside the recorded step costs GPU time at batch 64. Images kept
    channels-last (as a GPU keeps them) give a batch in three kernels (the images' and labels' gathers and
    one cast-and-normalize; it took six), the CPU's channels-first ones in four (and a reordering)."""
    from cvstudio.core.data.bundle import ImageSet

    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    reference = tiny_bundle.train.images.float().div(255).sub(torch.tensor(mean).view(1, 3, 1, 1))
    reference = reference.div(torch.tensor(std).view(1, 3, 1, 1))
    stored_cl = ImageSet(tiny_bundle.train.images.contiguous(memory_format=torch.channels_last), tiny_bundle.train.labels)
    for data, most_ops in ((tiny_bundle.train, 4), (stored_cl, 3)):
        loader = BatchLoader(data, 64, "cpu", mean, std, shuffle=True, seed=3, channels_last=True)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(3))
        batches = iter(loader)
        with _CountOps() as counted:
            x, y = next(batches)
        work = [op for op in counted.ops if op not in ("slice", "permute", "randperm")]  # views; once an epoch
        assert len(work) <= most_ops, counted.ops
        assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(x, reference.index_select(0, order[:64]), rtol=1e-6, atol=1e-5)
        assert torch.equal(y, tiny_bundle.train.labels.index_select(0, order[:64]))
    # augmented batches do not depend on how the images are stored either
    first, second = (BatchLoader(data, 64, "cpu", mean, std, shuffle=True, seed=5, augment="flip-crop",
                                 channels_last=True) for data in (tiny_bundle.train, stored_cl))
    for (a, la), (b, lb) in zip(first, second):
        assert torch.equal(a, b) and torch.equal(la, lb) and b.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("augment", ["none", "flip-crop"])
def test_full_batches_are_written_into_a_recorded_steps_inputs(augment):
    """The GPU path once the step is recorded (core/training/graphs.py): the loader writes each full batch
    straight into the recorded step's inputs, which then need no copy kernel per step; the batches are the
    same, and the epoch's last, smaller one comes as usual."""
    from cvstudio.core.data.bundle import ImageSet

    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    train = make_tiny_bundle(n_train=200).train  # three full batches of 64 and one of 8
    stored = ImageSet(train.images.contiguous(memory_format=torch.channels_last), train.labels)
    for shuffle in (True, False):
        plain, fed = (BatchLoader(stored, 64, "cpu", mean, std, shuffle=shuffle, seed=3, augment=augment,
                                  channels_last=True) for _ in range(2))
        inputs = torch.empty(64, *train.images.shape[1:]).contiguous(memory_format=torch.channels_last)
        labels = torch.empty(64, dtype=torch.int64)
        fed.write_full_batches_into(inputs, labels)
        for _epoch in range(2):
            plain_batches, fed_batches = iter(plain), iter(fed)
            while (batch := next(plain_batches, None)) is not None:
                with _CountOps() as fed_ops:
                    fx, fy = next(fed_batches)
                assert torch.equal(fx, batch[0]) and torch.equal(fy, batch[1])
                assert (fx is inputs and fy is labels) == (len(fy) == 64)
            assert next(fed_batches, None) is None
    plain, fed = (BatchLoader(stored, 64, "cpu", mean, std, shuffle=True, augment=augment, channels_last=True)
                  for _ in range(2))
    fed.write_full_batches_into(inputs, labels)
    with _CountOps() as plain_ops:
        next(iter(plain))
    with _CountOps() as fed_ops:
        assert next(iter(fed))[0] is inputs
    assert len(fed_ops.ops) == len(plain_ops.ops), (fed_ops.ops, plain_ops.ops)  # the same work, in place
    with pytest.raises(ValueError, match="float32"):
        fed.write_full_batches_into(inputs.half(), labels)


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_bad_train_configs_are_rejected():
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match="Nesterov"):
        TrainConfig(nesterov=True)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        TrainConfig(optimizer="lbfgs")
    assert TrainConfig.from_dict(TrainConfig(lr=0.1, patience=3).to_dict()) == TrainConfig(lr=0.1, patience=3)


def test_tensorboard_logging_writes_events(tiny_bundle, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cvstudio.core.runs import train_and_save

    outcome = train_and_save(get_preset("convnet"), tiny_bundle, TrainConfig(epochs=2, device="cpu"),
                             out=tmp_path / "run.safetensors", tensorboard_dir=tmp_path / "tb")
    assert outcome.checkpoint.exists()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("loss/step")]
    assert steps == list(range(1, 2 * 4 + 1))  # 256 images, batch 64
    assert [e.step for e in acc.Images("kernels/first_conv")] == [1, 2]  # one mosaic per epoch


def test_loader_draws_order_and_augmentation_from_one_generator_on_the_images_device(tiny_bundle):
    """CPU: the same batches as drawing randperm, crop offsets and flips from a CPU generator by hand."""
    from cvstudio.core.data.augment import CROP_PADDING

    loader = BatchLoader(tiny_bundle.train, 64, "cpu", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
                         shuffle=True, augment="flip-crop", seed=7)
    assert loader.generator.device == torch.device("cpu")
    g = torch.Generator().manual_seed(7)
    order = torch.randperm(len(tiny_bundle.train), generator=g)
    x = tiny_bundle.train.images.index_select(0, order[:64])
    x = random_hflip(random_crop(x, CROP_PADDING, g), g)
    expected = (x.float() / 255 - 0.5) / 0.25
    got, labels = next(iter(loader))
    torch.testing.assert_close(got, expected)
    assert torch.equal(labels, tiny_bundle.train.labels.index_select(0, order[:64]))


def test_random_crop_cuts_shifted_windows_of_the_padded_images():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (32, 3, 6, 6), dtype=torch.uint8, generator=g)
    cropped = random_crop(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(32):
        assert any(torch.equal(cropped[i], padded[i, :, dy:dy + 6, dx:dx + 6]) for dy in range(5) for dx in range(5))


def test_cuda_tuning_leaves_the_cpu_alone():
    from cvstudio.core.training.devices import tune_for_training

    flags = torch.backends.cudnn, torch.backends.cudnn, torch.backends.cuda.matmul
    names = "benchmark", "benchmark_limit", "allow_tf32"
    before = [getattr(f, n) for f, n in zip(flags, names)]
    try:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.benchmark_limit = 10
        torch.backends.cuda.matmul.allow_tf32 = False
        tune_for_training(torch.device("cpu"))
        assert [getattr(f, n) for f, n in zip(flags, names)] == [False, 10, False]
        tune_for_training(torch.device("cuda", 0))  # only flags: no GPU needed to set them
        assert [getattr(f, n) for f, n in zip(flags, names)] == [True, 0, True]  # every cuDNN algorithm timed
    finally:
        for f, n, value in zip(flags, names, before):
            setattr(f, n, value)


def test_optimizers_are_fused_only_for_parameters_on_a_gpu():
    from cvstudio.core.training.loop import fused_on_cuda, make_optimizer

    model = torch.nn.Linear(3, 2)
    assert fused_on_cuda([{"params": list(model.parameters())}]) == {}
    for name in ("sgd", "adam", "adamw"):
        opt = make_optimizer(model, TrainConfig(optimizer=name, device="cpu"))
        assert not opt.defaults.get("fused")

    class FakeCudaParam:
        is_cuda = True

        def is_floating_point(self):
            return True

    assert fused_on_cuda([{"params": [FakeCudaParam()]}]) == {"fused": True}
