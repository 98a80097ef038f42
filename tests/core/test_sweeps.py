"""Sweeps: the grid, the trials' options, the record, and the scheduler (with a stand-in train command)."""

from __future__ import annotations

import json
import sys
import textwrap
import threading

import pytest

from cvstudio.core import sweeps
from cvstudio.core.control import RunControl
from cvstudio.core.errors import ConfigError


def test_parse_set_and_its_errors():
    assert sweeps.parse_set("lr=0.01, 0.05") == ("lr", ("0.01", "0.05"))
    assert sweeps.parse_set("weight_decay=0,1e-3") == ("weight-decay", ("0", "1e-3"))
    assert sweeps.parse_set("batchnorm=on,off") == ("batchnorm", ("on", "off"))
    for bad, fragment in [("lr", "NAME=v1"), ("=1", "NAME=v1"), ("colour=red", "not a setting"),
                          ("lr=0.1,,0.2", "empty value"), ("lr=0.1,0.1", "twice"), ("amp=yes", "on and/or off")]:
        with pytest.raises(ConfigError, match=fragment):
            sweeps.parse_set(bad)


def test_full_grid_and_seeded_random_sample():
    grid = [("lr", ("0.01", "0.1")), ("width", ("8", "16", "32"))]
    trials = sweeps.plan_trials(grid)
    assert len(trials) == 6 and trials[0] == {"lr": "0.01", "width": "8"} and trials[-1] == {"lr": "0.1", "width": "32"}
    sample = sweeps.plan_trials(grid, random_n=3, seed=4)
    assert len(sample) == 3 and len({json.dumps(t) for t in sample}) == 3 and all(t in trials for t in sample)
    assert sample == sweeps.plan_trials(grid, random_n=3, seed=4)  # reproducible
    assert sweeps.plan_trials(grid, random_n=10) == trials  # more than the grid holds: the whole grid
    with pytest.raises(ConfigError, match="combinations"):
        sweeps.plan_trials([("seed", tuple(str(i) for i in range(200))), ("lr", tuple(str(i + 1) for i in range(100)))])


def test_trial_args_and_ids():
    assert sweeps.trial_args({"lr": "0.1", "batchnorm": "on", "amp": "off"}) == ["--lr", "0.1", "--batchnorm"]
    grid = [("lr", ("0.1",))]
    assert sweeps.sweep_id(["--epochs", "1"], grid, None, 0) == sweeps.sweep_id(["--epochs", "1"], grid, None, 0)
    assert sweeps.sweep_id(["--epochs", "2"], grid, None, 0) != sweeps.sweep_id(["--epochs", "1"], grid, None, 0)


def test_auto_parallel():
    assert sweeps.auto_parallel(cpu_count=2) == 2
    assert sweeps.auto_parallel(cpu_count=16, gpu_count=4) == 4
    assert sweeps.auto_parallel(cpu_count=1) == 1


# A stand-in for `cvstudio train`: reads --lr, sleeps a little, prints a done line (or fails for lr 666).
FAKE_TRAIN = textwrap.dedent('''
    import json, os, sys, time
    args = sys.argv[1:]
    assert args[0] == "train"
    lr = float(args[args.index("--lr") + 1])
    project = args[args.index("--project") + 1]
    if lr == 666:
        print("cvstudio train: error: learning rate of the beast", file=sys.stderr)
        sys.exit(2)
    time.sleep(0.2)
    with open(os.path.join(project, "started.log"), "a") as f:
        f.write(f"{lr} {os.environ.get('OMP_NUM_THREADS')}\\n")
    ckpt = os.path.join(project, f"run-{lr}.safetensors")
    open(ckpt, "w").close()
    print(json.dumps({"event": "epoch", "epoch": 1}))
    print(json.dumps({"event": "done", "status": "finished", "val_acc": 1 - lr, "train_acc": 0.99,
                      "val_loss": lr, "epochs": 1, "checkpoint": ckpt, "message": "ok"}))
''')


@pytest.fixture
def fake_train(tmp_path):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    return (sys.executable, str(script))


def test_trials_run_side_by_side_are_recorded_and_a_rerun_skips_finished_ones(tmp_path, fake_train):
    project = tmp_path / "project"
    project.mkdir()
    grid = [("lr", ("0.1", "0.2", "666", "0.3"))]
    seen = []
    record = sweeps.run_sweep(["--epochs", "1"], grid, project, parallel=2, on_trial=seen.append, python=fake_train)
    by_lr = {t.settings["lr"]: t for t in record.trials}
    assert {t.settings["lr"] for t in seen} == {"0.1", "0.2", "666", "0.3"}
    assert by_lr["666"].status == "failed" and "beast" in by_lr["666"].message
    assert by_lr["0.1"].status == "finished" and by_lr["0.1"].val_acc == pytest.approx(0.9)
    assert record.best().settings == {"lr": "0.1"}
    started = (project / "started.log").read_text().split()
    assert sorted(started[0::2]) == ["0.1", "0.2", "0.3"] and set(started[1::2]) == {"1"}  # one thread each
    saved = json.loads(sweeps.record_path(project, record.id).read_text())
    assert [t["status"] for t in saved["trials"]] == ["finished", "finished", "failed", "finished"]

    again = sweeps.run_sweep(["--epochs", "1"], grid, project, parallel=2, python=fake_train)
    assert (project / "started.log").read_text().split()[0::2] == started[0::2]  # nothing finished ran again
    assert [t.status for t in again.trials] == ["finished", "finished", "failed", "finished"]


def test_a_damaged_record_is_ignored_and_rewritten(tmp_path, fake_train):
    project = tmp_path / "p"
    project.mkdir()
    grid = [("lr", ("0.1",))]
    path = sweeps.record_path(project, sweeps.sweep_id([], grid, None, 0))
    path.parent.mkdir()
    path.write_text('{"trials": [{"settings": {"lr": 7}}, "junk"')
    record = sweeps.run_sweep([], grid, project, parallel=1, python=fake_train)
    assert record.trials[0].status == "finished"
    assert json.loads(path.read_text())["trials"][0]["status"] == "finished"


def test_stop_ends_the_sweep_and_marks_the_rest_not_run(tmp_path, fake_train):
    project = tmp_path / "p"
    project.mkdir()
    control = RunControl()
    grid = [("lr", tuple(str(0.01 * (i + 1)) for i in range(6)))]
    threading.Timer(0.1, control.request_stop).start()
    record = sweeps.run_sweep([], grid, project, parallel=1, control=control, python=fake_train)
    assert record.trials[-1].status == "not run"
    assert sum(t.status == "finished" for t in record.trials) <= 1


def test_on_start_reports_each_trial_as_its_process_starts(tmp_path, fake_train):
    project = tmp_path / "p"
    project.mkdir()
    events = []
    sweeps.run_sweep([], [("lr", ("0.1", "0.2", "0.3"))], project, parallel=2, python=fake_train,
                     on_start=lambda t: events.append(("start", t.settings["lr"], t.status)),
                     on_trial=lambda t: events.append(("end", t.settings["lr"], t.status)))
    starts = [e for e in events if e[0] == "start"]
    assert [e[1] for e in starts] == ["0.1", "0.2", "0.3"] and {e[2] for e in starts} == {"running"}
    for lr in ("0.1", "0.2", "0.3"):  # each starts before it ends
        assert events.index(("start", lr, "running")) < next(i for i, e in enumerate(events) if e[:2] == ("end", lr))
