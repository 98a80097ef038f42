"""`cvstudio sweep`: trials recorded as runs of the project, a re-run skips them, bad settings refused at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cvstudio.cli import main
from tests.cli.test_cli import _folder_dataset, _json_lines


def _sweep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cvstudio", "sweep", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


def test_sweep_records_each_trial_as_a_run_and_a_rerun_skips_them(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data", per_class=6)
    project = tmp_path / "project"
    common = ["--dataset", str(data), "--image-size", "16", "--model", "mlp", "--epochs", "1",
              "--set", "lr=0.01,0.05", "--project", str(project), "--json"]
    proc = _sweep(*common)
    assert proc.returncode == 0, proc.stderr
    lines = _json_lines(proc.stdout)
    trials, done = lines[:-1], lines[-1]
    assert [t["event"] for t in trials] == ["trial", "trial"] and done["event"] == "done"
    assert sorted(t["settings"]["lr"] for t in done["trials"]) == ["0.01", "0.05"]
    assert all(t["status"] == "finished" and os.path.isfile(t["checkpoint"]) for t in done["trials"])
    assert done["best"]["val_acc"] == max(t["val_acc"] for t in done["trials"])

    assert main(["runs", str(project), "--json"]) == 0
    runs = _json_lines(capsys.readouterr().out)
    assert sorted(r["checkpoint"] for r in runs) == sorted(t["checkpoint"] for t in done["trials"])

    again = _sweep(*common)
    assert again.returncode == 0, again.stderr
    assert _json_lines(again.stdout)[-1]["trials"] == done["trials"]  # nothing ran again
    assert len(list((project / "runs").glob("*.safetensors"))) == 2


def test_bad_sweep_settings_are_refused_before_anything_runs(tmp_path, capsys):
    project = tmp_path / "p"
    for argv, fragment in [
        (["--set", "lr=0.1,abc"], "'abc' is not a number"),
        (["--set", "colour=red"], "not a setting a sweep can vary"),
        (["--set", "lr=0.1", "--out", "x.safetensors"], "--out is set by the sweep"),
        ([], "at least one --set"),
        (["--set", "lr=0.1", "--epochs", "0"], "--epochs"),
    ]:
        assert main(["sweep", *argv, "--project", str(project)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], (argv, err)
    assert not project.exists()
