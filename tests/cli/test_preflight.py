"""`make run`'s preflight: missing system libraries of Qt's platform plugin are named with the install command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cvstudio import preflight
from cvstudio.gui.app import prefer_wayland

ROOT = Path(__file__).resolve().parents[2]

LDD_MISSING_CURSOR = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f39)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => /lib/x86_64-linux-gnu/libxcb-icccm.so.4 (0x00007f3a)
\tlibxcb-cursor.so.0 => not found
"""
LDD_ALL_FOUND = "\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x1)\n"
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'
FEDORA = 'NAME="Fedora Linux"\nID=fedora\n'
MANJARO = 'ID=manjaro\nID_LIKE=arch\n'


@pytest.fixture
def pyside(tmp_path) -> Path:
    platforms = tmp_path / "PySide6" / "Qt" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    for name in ("libqxcb.so", "libqwayland.so"):
        (platforms / name).write_bytes(b"")
    return tmp_path / "PySide6"


def fake_ldd(outputs: dict[str, str]):
    asked: list[str] = []

    def ldd(path: Path) -> str:
        asked.append(path.name)
        return outputs[path.name]

    ldd.asked = asked  # type: ignore[attr-defined]
    return ldd


def test_parses_not_found_lines_once_each():
    assert preflight.missing_libraries(LDD_MISSING_CURSOR) == ["libxcb-cursor.so.0"]
    assert preflight.missing_libraries(LDD_ALL_FOUND) == []


@pytest.mark.parametrize("os_release, command", [
    (DEBIAN, "sudo apt-get install libxcb-cursor0"),
    (UBUNTU, "sudo apt-get install libxcb-cursor0"),
    (FEDORA, "sudo dnf install xcb-util-cursor"),
    (MANJARO, "sudo pacman -S xcb-util-cursor"),
])
def test_missing_cursor_library_names_this_distributions_command(pyside, os_release, command):
    ldd = fake_ldd({"libqxcb.so": LDD_MISSING_CURSOR})
    verdict = preflight.check({"DISPLAY": ":0"}, ldd, os_release, pyside, platform="linux")
    assert not verdict.ok and verdict.status == preflight.MISSING
    assert "libxcb-cursor.so.0" in verdict.message
    assert f"  {command}\n" in verdict.message
    assert ldd.asked == ["libqxcb.so"]


def test_unknown_library_and_unknown_distribution_still_say_what_to_find(pyside):
    ldd = fake_ldd({"libqxcb.so": "\tlibfoo-bar.so.7 => not found\n\tlibxcb-cursor.so.0 => not found\n"})
    verdict = preflight.check({"DISPLAY": ":0"}, ldd, DEBIAN, pyside, platform="linux")
    assert "sudo apt-get install libxcb-cursor0" in verdict.message
    assert "apt-file search libfoo-bar.so.7" in verdict.message
    verdict = preflight.check({"DISPLAY": ":0"}, ldd, "ID=gentoo\n", pyside, platform="linux")
    assert "provide: libfoo-bar.so.7, libxcb-cursor.so.0" in verdict.message


def test_nothing_missing_or_nothing_to_check_passes(pyside):
    ok = fake_ldd({"libqxcb.so": LDD_ALL_FOUND, "libqwayland.so": LDD_ALL_FOUND})
    assert preflight.check({"DISPLAY": ":0"}, ok, DEBIAN, pyside, platform="linux").ok
    broken = fake_ldd({"libqxcb.so": LDD_MISSING_CURSOR})
    assert preflight.check({"QT_QPA_PLATFORM": "offscreen"}, broken, DEBIAN, pyside, platform="linux").ok
    assert preflight.check({"DISPLAY": ":0"}, broken, DEBIAN, pyside, platform="darwin").ok
    assert not broken.asked


def test_wayland_session_checks_wayland_and_falls_back_to_xcb(pyside):
    ldd = fake_ldd({"libqwayland.so": LDD_ALL_FOUND, "libqxcb.so": LDD_MISSING_CURSOR})
    assert preflight.check({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, ldd, DEBIAN, pyside, platform="linux").ok
    assert ldd.asked == ["libqwayland.so"]  # xcb's missing library does not matter there
    ldd = fake_ldd({"libqwayland.so": "\tlibwayland-cursor.so.0 => not found\n", "libqxcb.so": LDD_MISSING_CURSOR})
    verdict = preflight.check({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, ldd, DEBIAN, pyside, platform="linux")
    assert "xcb platform plugin needs libxcb-cursor.so.0" in verdict.message


def test_no_graphical_session_is_a_clear_stop(pyside):
    verdict = preflight.check({}, fake_ldd({}), DEBIAN, pyside, platform="linux")
    assert verdict.status == preflight.NO_DISPLAY and "DISPLAY" in verdict.message


def test_module_exits_3_with_the_message_when_a_library_is_missing(tmp_path, pyside):
    """The script as `make run` calls it, with ldd replaced by one that reports libxcb-cursor missing."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ldd").write_text("#!/bin/sh\nprintf '\\tlibxcb-cursor.so.0 => not found\\n'\n")
    (fake / "ldd").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "DISPLAY": ":0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cvstudio.preflight"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    if not sys.platform.startswith("linux"):
        assert done.returncode == 0
        return
    assert done.returncode == preflight.MISSING
    assert "libxcb-cursor.so.0" in done.stderr and "install" in done.stderr
    assert "Traceback" not in done.stderr


def test_wayland_sessions_prefer_the_wayland_plugin():
    env = {"WAYLAND_DISPLAY": "wayland-0"}
    prefer_wayland(env)
    assert env["QT_QPA_PLATFORM"] == "wayland;xcb"
    env = {"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "offscreen"}
    prefer_wayland(env)
    assert env["QT_QPA_PLATFORM"] == "offscreen"
    env = {"DISPLAY": ":0"}
    prefer_wayland(env)
    assert "QT_QPA_PLATFORM" not in env
