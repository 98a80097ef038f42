"""The cheatsheet's experiments: each builds, its numbers are the cheatsheet's, missing data is detected."""

from __future__ import annotations

import pytest

from cvstudio.core.experiments import CIFAR2, EXPERIMENTS, compare, get_experiment, missing_data
from cvstudio.core.models import count_params, build_model

SHAPE = (3, 32, 32)


def test_the_cheatsheets_sequence_is_all_there():
    keys = [e.key for e in EXPERIMENTS]
    assert keys == ["normalize", "mlp", "mlp-deep", "convnet", "padding", "kernels", "relu", "width", "l2", "l1",
                    "dropout", "batchnorm", "skip"]
    assert len(set(keys)) == len(keys)
    with pytest.raises(KeyError, match="unknown experiment 'nope'"):
        get_experiment("nope")


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.key)
def test_every_experiment_builds_and_matches_the_reported_parameter_count(experiment):
    spec = experiment.spec()
    model = build_model(spec, SHAPE, 2)
    if experiment.reported is not None and experiment.reported.params is not None:
        assert count_params(model) == experiment.reported.params
    assert experiment.page in ("Data", "Model", "Train", "Inspect")
    assert experiment.explanation and experiment.title


def test_reported_numbers_are_the_cheatsheets():
    mlp, convnet, width = get_experiment("mlp"), get_experiment("convnet"), get_experiment("width")
    assert (mlp.reported.train_acc, mlp.reported.val_acc, mlp.reported.epochs) == (0.998, 0.820, 100)
    assert convnet.reported.val_acc == 0.8905 and width.reported.val_acc == 0.9125
    assert mlp.data == CIFAR2 and CIFAR2.classes == ("airplane", "bird")
    assert (mlp.train.optimizer, mlp.train.lr, mlp.train.momentum, mlp.train.batch_size, mlp.train.epochs) == \
        ("sgd", 1e-2, 0.0, 64, 100)
    assert mlp.spec().loss == "nll" and convnet.spec().loss == "cross_entropy"
    assert (width.train.lr, width.train.weight_decay, width.spec().layers[0].out) == (1e-1, 1e-3, 32)
    assert get_experiment("normalize").reported.mean == (0.4915, 0.4823, 0.4468)


def test_padding_zero_shrinks_each_side_by_two():
    from cvstudio.core.models import summarize

    spec = get_experiment("padding").spec()
    assert all(l.padding == 0 for l in spec.layers if l.kind == "conv")
    shapes = [layer.out_shape for layer in summarize(spec, SHAPE, 2).layers]
    assert (16, 30, 30) in [tuple(s) for s in shapes] and (16, 15, 15) in [tuple(s) for s in shapes]


def test_missing_cifar_is_reported_until_its_files_are_there(tmp_path):
    from cvstudio.core.data.torchvision_sources import TORCHVISION_SOURCES

    experiment = get_experiment("convnet")
    assert experiment.needs_download and not get_experiment("kernels").needs_download
    why = missing_data(experiment, tmp_path)
    assert why is not None and "CIFAR-10" in why and str(tmp_path) in why
    for rel in TORCHVISION_SOURCES["cifar10"].files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert missing_data(experiment, tmp_path) is None
    assert missing_data(get_experiment("padding"), tmp_path / "nowhere") is None


def test_compare_puts_the_run_next_to_the_cheatsheet():
    text = compare(get_experiment("mlp"), 0.97, 0.81, 100)
    assert text == "train 0.970 (cheatsheet 0.998) / validation 0.810 (cheatsheet 0.82) after 100 epochs"
    assert compare(get_experiment("convnet"), None, 0.87, 10) == \
        "validation 0.870 (cheatsheet 0.8905) after 10 epochs (cheatsheet: 100)"
    assert compare(get_experiment("dropout"), 0.9, 0.85, 1) == "train 0.900 / validation 0.850 after 1 epoch"
