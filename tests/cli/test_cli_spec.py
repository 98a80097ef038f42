"""`cvstudio train --spec FILE` (a model builder architecture file) and `--json-batches`."""

from __future__ import annotations

import json

import pytest

from cvstudio.cli import main
from cvstudio.core.specs import ModelSpec
from tests.cli.test_cli import _folder_dataset, _json_lines


def _hand_made_spec() -> ModelSpec:
    """A network no preset builds: conv 6 -> relu -> max pool -> flatten -> linear (classes)."""
    from cvstudio.core.models import get_preset

    base = get_preset("convnet", width=6, depth=1)
    layers = [l for l in base.layers if l.kind != "dropout"]
    return ModelSpec(name="my-net", loss=base.loss, layers=tuple(layers))


def test_train_a_spec_file_with_batch_lines(tmp_path, capsys):
    from cvstudio.core.checkpoints import read_meta
    from cvstudio.core.spec_files import save_spec

    spec = _hand_made_spec()
    save_spec(spec, tmp_path / "net.json")
    data = _folder_dataset(tmp_path / "data")
    out = tmp_path / "run.safetensors"
    code = main(["train", "--dataset", str(data), "--image-size", "16", "--spec", str(tmp_path / "net.json"),
                 "--epochs", "2", "--batch-size", "8", "--device", "cpu", "--json", "--json-batches", "--out", str(out)])
    lines = _json_lines(capsys.readouterr().out)
    assert code == 0
    kinds = [l["event"] for l in lines]
    assert kinds[0] == "fit_started" and kinds[-2:] == ["fit_ended", "done"] and kinds.count("epoch") == 2
    batches = [l for l in lines if l["event"] == "batches"]
    steps = lines[0]["batches_per_epoch"]
    assert sum(len(b["losses"]) for b in batches) == 2 * steps  # every step's loss, once
    assert batches[-1]["global_step"] == 2 * steps and batches[-1]["step"] == steps
    assert read_meta(out).model_spec.layers == spec.layers and read_meta(out).model_spec.name == "my-net"


@pytest.mark.parametrize("extra, message", [
    (["--model", "convnet"], "leave out --model"),
    (["--width", "8", "--batchnorm"], "leave out --width, --batchnorm"),
])
def test_spec_refuses_options_that_build_another_network(tmp_path, capsys, extra, message):
    from cvstudio.core.spec_files import save_spec

    save_spec(_hand_made_spec(), tmp_path / "net.json")
    assert main(["train", "--spec", str(tmp_path / "net.json"), *extra, "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_a_bad_spec_file_is_one_line_before_any_work(tmp_path, capsys):
    bad = tmp_path / "net.json"
    bad.write_text(json.dumps({"format": "cvstudio-model-spec", "version": 1,
                               "model_spec": {"name": "x", "layers": [{"kind": "conv", "out": -3}]}}))
    assert main(["train", "--spec", str(bad), "--device", "cpu", "--nproc", "2"]) == 2  # refused before launching
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "net.json" in err
    assert main(["train", "--spec", str(tmp_path / "missing.json"), "--device", "cpu"]) == 2
    assert "cannot read missing.json" in capsys.readouterr().err


def test_json_batches_needs_json(capsys):
    assert main(["train", "--json-batches", "--device", "cpu"]) == 2
    assert "give --json too" in capsys.readouterr().err
