"""``cvstudio --self-test`` from the source checkout: the same checks ``make package-test`` runs on the
built bundle, so a failure shows up in ``make test`` before packaging."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_self_test_passes_from_the_checkout(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CVSTUDIO_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-m", "cvstudio", "--self-test"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for check in ("train 1 epoch", "checkpoint reload", "classify image", "export", "main window"):
        assert any(line.startswith(f"ok   {check}") for line in lines), proc.stdout
    assert lines[-1].startswith("self-test passed: 11 checks")


def test_a_failing_check_says_which_and_exits_1(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CVSTUDIO_HOME=str(tmp_path / "home"))
    code = ("import sys; from cvstudio import selftest\n"
            "def broken(self): raise selftest.CheckFailed('the reloaded model answers differently')\n"
            "selftest.SelfTest.check_reload = broken\n"
            "sys.exit(selftest.run(['--quick']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL checkpoint reload: the reloaded model answers differently" in proc.stdout
    assert "main window" not in proc.stdout  # the run stops at the first failure
