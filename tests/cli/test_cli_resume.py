"""`cvstudio train --resume` (issue 13): Ctrl-C keeps a resumable checkpoint; resuming gives the uninterrupted losses."""

import json
import os
import signal

import pytest
from safetensors import safe_open

import cvstudio.cli
from cvstudio.cli import main
from cvstudio.core.checkpoints import RESUME_METADATA_KEY, load_checkpoint, read_meta, read_resume_state
from tests.cli.test_cli import _folder_dataset, _json_lines

RUN = ["train", "--image-size", "16", "--model", "convnet", "--dropout", "0.2", "--epochs", "4", "--batch-size", "8",
       "--lr", "0.05", "--schedule", "cosine", "--augment", "flip-crop", "--seed", "5", "--device", "cpu", "--json"]


def _epochs(out: str) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")}
            for e in _json_lines(out) if e["event"] == "epoch"]


@pytest.fixture
def ctrl_c_after_epoch_2(monkeypatch):
    """The user presses Ctrl-C while epoch 2's line is printed (the CLI's own SIGINT handler stops the run)."""
    printed = cvstudio.cli._ConsoleReporter.on_epoch_ended

    def on_epoch_ended(self, e):
        printed(self, e)
        if e.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cvstudio.cli._ConsoleReporter, "on_epoch_ended", on_epoch_ended)


def test_resumed_run_gives_the_uninterrupted_loss_curve(tmp_path, capsys, monkeypatch, ctrl_c_after_epoch_2):
    run = [*RUN, "--dataset", str(_folder_dataset(tmp_path / "data"))]
    stopped = tmp_path / "stopped.safetensors"
    assert main([*run, "--out", str(stopped)]) == 0
    first = capsys.readouterr()
    assert json.loads(first.out.splitlines()[-1])["status"] == "stopped"
    assert read_meta(stopped).status == "stopped" and len(read_meta(stopped).history) == 2
    state = read_resume_state(stopped)
    assert state is not None and state[1]["epoch"] == 2 and any(k.startswith("optimizer.") for k in state[0])
    assert load_checkpoint(stopped).meta.status == "stopped"  # still an ordinary checkpoint

    monkeypatch.undo()  # no more Ctrl-C
    resumed = tmp_path / "resumed.safetensors"
    assert main(["train", "--resume", str(stopped), "--json", "--device", "cpu", "--out", str(resumed)]) == 0
    second = capsys.readouterr()
    assert "resuming after epoch 2 of 4" in second.err
    whole = tmp_path / "whole.safetensors"
    assert main([*run, "--out", str(whole)]) == 0
    uninterrupted = capsys.readouterr()

    assert [e["epoch"] for e in _epochs(second.out)] == [3, 4]
    assert _epochs(first.out) + _epochs(second.out) == _epochs(uninterrupted.out)
    done = json.loads(second.out.splitlines()[-1])
    assert done["status"] == "finished" and done["epochs"] == 4
    def curve(path):
        return [{k: v for k, v in h.items() if k not in ("seconds", "images_per_s")} for h in read_meta(path).history]

    assert curve(resumed) == curve(whole)
    assert read_resume_state(resumed) is None  # a finished run carries no resume state
    with safe_open(str(whole), "pt") as f:
        assert RESUME_METADATA_KEY not in f.metadata() and not any(k.startswith("__resume__.") for k in f.keys())


@pytest.mark.parametrize(
    "extra, fragment",
    [(["--epochs", "9"], "--epochs cannot be changed"), (["--model", "mlp"], "--model cannot be changed")],
)
def test_resume_with_other_settings_is_one_line(tmp_path, capsys, extra, fragment):
    stopped = tmp_path / "missing.safetensors"
    assert main(["train", "--resume", str(stopped), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_resuming_a_finished_run_is_one_line_and_writes_nothing(tmp_path, capsys):
    done = tmp_path / "done.safetensors"
    data = _folder_dataset(tmp_path / "data")
    assert main(["train", "--dataset", str(data), "--image-size", "16", "--epochs", "1", "--out", str(done)]) == 0
    capsys.readouterr()
    before = sorted(tmp_path.iterdir())
    assert main(["train", "--resume", str(done), "--out", str(tmp_path / "again.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no resume state" in err[0]
    assert sorted(tmp_path.iterdir()) == before
