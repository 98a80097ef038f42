"""core/launch.py: a child run's JSON lines back into the core's events; the options of an all-GPUs run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cvstudio.cli import _ConsoleReporter
from cvstudio.core.errors import ConfigError
from cvstudio.core.events import BatchesEnded, EpochEnded, FitEnded, FitStarted
from cvstudio.core.launch import RunSummary, all_gpus_train_args, last_error_line, parse_event_line
from cvstudio.core.specs import DataConfig, TrainConfig

EVENTS = [
    FitStarted(epochs=3, batches_per_epoch=40, train_size=1280, val_size=320, device="cuda:0", params=18090),
    BatchesEnded(epoch=1, step=7, steps_per_epoch=40, global_step=7, losses=np.array([0.9, 0.8, float("nan")]),
                 images_per_s=1234.5, eta_s=None),
    BatchesEnded(epoch=2, step=40, steps_per_epoch=40, global_step=80, losses=np.array([0.5]), images_per_s=99.0,
                 eta_s=12.5),
    EpochEnded(epoch=1, train_loss=0.7, train_acc=0.6, val_loss=0.65, val_acc=0.62, lr=0.05, seconds=1.5,
               images_per_s=1000.0, improved=True),
    FitEnded(status="stopped", message="stopped by the user", epochs_completed=1, best_epoch=1, best_val_acc=0.62),
]


def _printed(capsys, reporter, event) -> str:
    getattr(reporter, {FitStarted: "on_fit_started", BatchesEnded: "on_batches_ended", EpochEnded: "on_epoch_ended",
                       FitEnded: "on_fit_ended"}[type(event)])(event)
    return capsys.readouterr().out


def test_reporter_lines_parse_back_into_the_same_events(capsys):
    reporter = _ConsoleReporter(3, as_json=True, batches=True)
    for event in EVENTS:
        lines = _printed(capsys, reporter, event).splitlines()
        assert len(lines) == 1
        parsed = parse_event_line(lines[0])
        assert type(parsed) is type(event)
        if isinstance(event, BatchesEnded):
            np.testing.assert_array_equal(parsed.losses, event.losses)  # NaN (a diverging run) survives too
            assert parsed.losses.dtype == np.float64
            event, parsed = ({k: v for k, v in vars(e).items() if k != "losses"} for e in (event, parsed))
        assert parsed == event


def test_without_json_batches_only_epochs_are_printed(capsys):
    reporter = _ConsoleReporter(3, as_json=True, batches=False)
    assert [_printed(capsys, reporter, e) for e in EVENTS[:3]] == ["", "", ""]
    assert _printed(capsys, reporter, EVENTS[4]) == ""
    assert isinstance(parse_event_line(_printed(capsys, reporter, EVENTS[3])), EpochEnded)


def test_done_line_becomes_a_summary():
    line = json.dumps({"event": "done", "status": "finished", "message": "done", "train_acc": 0.9, "val_acc": 0.8,
                       "val_loss": 0.4, "best_epoch": 2, "params": 10, "images_per_s": 50.0, "seconds": 3.0,
                       "device": "cuda:0", "checkpoint": "/tmp/x.safetensors", "notes": ["a"], "epochs": 2,
                       "step_mode": "eager (distributed training)"})
    summary = parse_event_line(line)
    assert summary == RunSummary("finished", "done", "/tmp/x.safetensors", 2, {"train_acc": 0.9, "val_acc": 0.8,
                                 "val_loss": 0.4}, 50.0, 3.0, "cuda:0", 10, ("a",), "eager (distributed training)")
    older = json.loads(line)
    del older["step_mode"]  # a done line from before step_mode
    assert parse_event_line(json.dumps(older)).step_mode == "eager"


@pytest.mark.parametrize("line", [
    "training on cpu: 10 train",  # not JSON
    "{not json",
    "[1, 2]",
    '{"event": "unknown"}',
    '{"event": "fit_started", "epochs": "3", "batches_per_epoch": 1, "train_size": 1, "val_size": 1, "device": "cpu", "params": 1}',
    '{"event": "fit_started", "epochs": 0, "batches_per_epoch": 1, "train_size": 1, "val_size": 1, "device": "cpu", "params": 1}',
    '{"event": "fit_started", "epochs": true, "batches_per_epoch": 1, "train_size": 1, "val_size": 1, "device": "cpu", "params": 1}',
    '{"event": "batches", "epoch": 1, "step": 5, "steps_per_epoch": 4, "global_step": 5, "losses": [1.0], "images_per_s": 1, "eta_s": null}',
    '{"event": "batches", "epoch": 1, "step": 1, "steps_per_epoch": 4, "global_step": 1, "losses": [], "images_per_s": 1, "eta_s": null}',
    '{"event": "batches", "epoch": 1, "step": 1, "steps_per_epoch": 4, "global_step": 1, "losses": ["x"], "images_per_s": 1, "eta_s": null}',
    '{"event": "batches", "epoch": 1, "step": 1, "steps_per_epoch": 4, "global_step": 1, "losses": [1], "images_per_s": Infinity, "eta_s": null}',
    '{"event": "fit_ended", "status": "rm -rf", "message": "", "epochs_completed": 1, "best_epoch": null, "best_val_acc": null}',
    "{" * 100_000 + "}" * 100_000,  # nested too deeply
    '{"event": "done", "status": "finished", "message": "", "checkpoint": null, "best_epoch": 1, "images_per_s": 1,'
    ' "seconds": 1, "device": "cuda:0", "params": 1, "step_mode": ["CUDA graph"]}',
])
def test_hostile_or_foreign_lines_are_ignored(line):
    assert parse_event_line(line) is None


def test_all_gpus_options_give_each_rank_its_gpu_and_the_spec_file(tmp_path):
    args = all_gpus_train_args(str(tmp_path / "m.json"), DataConfig(source="/data/x"),
                               TrainConfig(device="cuda:all", epochs=3, lr=0.02), str(tmp_path / "run.safetensors"))
    assert args[0] == "train"
    assert args[args.index("--spec") + 1] == str(tmp_path / "m.json") and "--model" not in args
    assert args.count("--device") == 1 and args[args.index("--device") + 1] == "cuda"
    assert {"--json", "--json-batches"} <= set(args) and args[args.index("--out") + 1].endswith("run.safetensors")
    from cvstudio.cli import build_parser

    parsed = build_parser().parse_args(args)  # the child's own parser accepts every option
    assert parsed.epochs == 3 and math.isclose(parsed.lr, 0.02) and parsed.dataset == "/data/x"


def test_settings_the_command_cannot_express_are_refused():
    with pytest.raises(ConfigError, match="grayscale"):
        all_gpus_train_args("m.json", DataConfig(source="/d", grayscale=True), TrainConfig(), "o.safetensors")


def test_last_error_line_prefers_the_launchers_rank_line():
    lines = ["note: x", "cvstudio train: error (rank 1 of 2): bad", "cvstudio: rank 1 of 2 failed: bad; all ranks were stopped"]
    assert last_error_line(lines).startswith("cvstudio: rank 1 of 2 failed")
    assert last_error_line(["a", "cvstudio train: error: no data", "b"]) == "cvstudio train: error: no data"
    assert last_error_line([]) == "no output"
