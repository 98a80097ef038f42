"""`cvstudio train` with torchvision backbones, starting weights and the fine-tuning options (issue 13)."""

import json

import pytest
import torch

from cvstudio.cli import main
from tests.cli.test_cli import _folder_dataset, _json_lines


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def _photos(root, size=32):
    """The CLI test folder (16 px images) at --image-size ``size``."""
    return ["--dataset", str(_folder_dataset(root)), "--image-size", str(size), "--batch-size", "16", "--epochs", "1"]


def test_missing_pretrained_weights_are_one_line_naming_file_and_flag(tmp_path, hub, capsys):
    code = main(["train", *_photos(tmp_path / "data"), "--model", "resnet18", "--pretrained"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert str(hub / "resnet18-f37072fd.pth") in err[0] and "--download-weights" in err[0]


def test_pretrained_linear_probe_with_schedule_amp_smoothing_and_clipping(tmp_path, hub, capsys):
    import torchvision

    hub.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), hub / "resnet18-f37072fd.pth")
    ckpt = tmp_path / "probe.safetensors"
    code = main(["train", *_photos(tmp_path / "data"), "--model", "resnet18", "--pretrained", "--freeze", "backbone",
                 "--schedule", "onecycle", "--amp", "--label-smoothing", "0.1", "--clip-grad", "1.0", "--json",
                 "--out", str(ckpt)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    done = _json_lines(captured.out)[-1]
    assert done["params"] == 512 * 2 + 2 and done["model"] == "resnet18"
    assert any("fc" in n for n in done["notes"]) and "note:" in captured.err
    assert main(["info", str(ckpt), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_spec"]["arch"] == "resnet18" and info["model_spec"]["weights"] == "IMAGENET1K_V1"
    assert info["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert info["train_config"]["freeze"] == "backbone" and info["train_config"]["schedule"] == "onecycle"
    assert main(["classify", str(ckpt), str(tmp_path / "data" / "test" / "left"), "--json"]) == 0


def test_init_from_a_checkpoint_takes_its_architecture_and_replaces_the_head(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    first = tmp_path / "first.safetensors"
    assert main(["train", "--dataset", str(data), "--image-size", "16", "--model", "convnet", "--epochs", "1",
                 "--out", str(first)]) == 0
    capsys.readouterr()
    other = tmp_path / "three"
    for name in ("a", "b", "c"):
        (other / name).mkdir(parents=True)
        for f in list((data / "train" / "left").iterdir())[:6]:
            (other / name / f.name).write_bytes(f.read_bytes())
    second = tmp_path / "second.safetensors"
    code = main(["train", "--dataset", str(other), "--image-size", "16", "--init-from", str(first), "--epochs", "1",
                 "--json", "--out", str(second)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "differ" in captured.err and "fc2" in captured.err
    lines = _json_lines(captured.out)
    done = lines[-1]
    assert done["model"] == "convnet" and done["classes"] == ["a", "b", "c"]
    assert lines[0]["lr"] == pytest.approx(0.01)
    assert main(["info", str(second), "--json"]) == 0
    train_config = json.loads(capsys.readouterr().out)["train_config"]
    assert train_config["lr"] == pytest.approx(0.01) and train_config["backbone_lr"] == pytest.approx(0.001)


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--clip-grad", "0"], "--clip-grad"),
        (["--clip-grad", "inf"], "--clip-grad"),
        (["--label-smoothing", "1"], "--label-smoothing"),
        (["--backbone-lr", "nan"], "--backbone-lr"),
        (["--freeze", "some"], "--freeze"),
        (["--schedule", "linear"], "--schedule"),
        (["--download-weights"], "--pretrained"),
        (["--pretrained"], "torchvision architecture"),
        (["--model", "resnet18", "--width", "8"], "presets only"),
        (["--model", "resnet18", "--pretrained", "--weights-name", "V9"], "no pretrained weights named"),
        (["--pretrained", "--model", "resnet18", "--weights", "x.pth"], "one source"),
        (["--model", "resnet18", "--weights", "/no/such.pth"], "/no/such.pth"),
    ],
)
def test_bad_fine_tuning_arguments_exit_2_with_one_line(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert fragment in err[-1]


def test_unknown_freeze_stage_names_the_stages(tmp_path, capsys):
    code = main(["train", *_photos(tmp_path / "data", 16), "--model", "convnet", "--freeze", "upto:layer9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "no stage named 'layer9'" in err[-1] and "conv1" in err[-1]


def test_an_image_size_the_architecture_cannot_take_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never.safetensors"
    code = main(["train", *_photos(tmp_path / "data", size=16), "--model", "resnet18", "--out", str(out)])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "error" in line]
    assert code == 2 and len(err) == 1 and "at least 32x32" in err[0]  # after the loading progress lines
    assert not out.exists()
