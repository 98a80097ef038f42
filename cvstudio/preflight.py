"""Before the window opens: are the system libraries of Qt's platform plugin installed?

On a Linux desktop without, say, libxcb-cursor0, Qt aborts the whole process
(exit 134, "Could not load the Qt platform plugin xcb") with a message that
does not say what to install. ``make run`` runs this first: it asks ``ldd``
which libraries the plugin the app will use cannot find and, when one is
missing, prints the package manager command for this distribution and exits
with status 3 instead of starting the app.

It imports neither Qt nor torch (PySide6 is only located, never loaded), so it
takes a few milliseconds. Every input (the ldd output, /etc/os-release, the
environment) can be injected, which is how the tests exercise it.

Usage: ``python -m cvstudio.preflight`` (exit 0: fine or nothing to check;
3: libraries missing; 1: no graphical session).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

MISSING = 3
NO_DISPLAY = 1

# shared library -> package that provides it, per package manager. Qt 6.5+ needs libxcb-cursor0,
# the one most desktops lack; the rest are what libqxcb.so / libqwayland.so link against.
PACKAGES: dict[str, dict[str, str]] = {
    "libxcb-cursor.so.0": {"apt": "libxcb-cursor0", "dnf": "xcb-util-cursor", "pacman": "xcb-util-cursor"},
    "libxcb-icccm.so.4": {"apt": "libxcb-icccm4", "dnf": "xcb-util-wm", "pacman": "xcb-util-wm"},
    "libxcb-keysyms.so.1": {"apt": "libxcb-keysyms1", "dnf": "xcb-util-keysyms", "pacman": "xcb-util-keysyms"},
    "libxcb-image.so.0": {"apt": "libxcb-image0", "dnf": "xcb-util-image", "pacman": "xcb-util-image"},
    "libxcb-util.so.1": {"apt": "libxcb-util1", "dnf": "xcb-util", "pacman": "xcb-util"},
    "libxcb-render-util.so.0": {"apt": "libxcb-render-util0", "dnf": "xcb-util-renderutil",
                                "pacman": "xcb-util-renderutil"},
    "libxcb-randr.so.0": {"apt": "libxcb-randr0", "dnf": "libxcb", "pacman": "libxcb"},
    "libxcb-shape.so.0": {"apt": "libxcb-shape0", "dnf": "libxcb", "pacman": "libxcb"},
    "libxcb-xkb.so.1": {"apt": "libxcb-xkb1", "dnf": "libxcb", "pacman": "libxcb"},
    "libxcb-xinerama.so.0": {"apt": "libxcb-xinerama0", "dnf": "libxcb", "pacman": "libxcb"},
    "libxkbcommon-x11.so.0": {"apt": "libxkbcommon-x11-0", "dnf": "libxkbcommon-x11", "pacman": "libxkbcommon-x11"},
    "libxkbcommon.so.0": {"apt": "libxkbcommon0", "dnf": "libxkbcommon", "pacman": "libxkbcommon"},
    "libX11-xcb.so.1": {"apt": "libx11-xcb1", "dnf": "libX11-xcb", "pacman": "libx11"},
    "libEGL.so.1": {"apt": "libegl1", "dnf": "libglvnd-egl", "pacman": "libglvnd"},
    "libGL.so.1": {"apt": "libgl1", "dnf": "libglvnd-glx", "pacman": "libglvnd"},
    "libfontconfig.so.1": {"apt": "libfontconfig1", "dnf": "fontconfig", "pacman": "fontconfig"},
    "libdbus-1.so.3": {"apt": "libdbus-1-3", "dnf": "dbus-libs", "pacman": "dbus"},
    "libwayland-client.so.0": {"apt": "libwayland-client0", "dnf": "libwayland-client", "pacman": "wayland"},
    "libwayland-cursor.so.0": {"apt": "libwayland-cursor0", "dnf": "libwayland-cursor", "pacman": "wayland"},
    "libwayland-egl.so.1": {"apt": "libwayland-egl1", "dnf": "libwayland-egl", "pacman": "wayland"},
}

INSTALL = {"apt": "sudo apt-get install {}", "dnf": "sudo dnf install {}", "pacman": "sudo pacman -S {}"}
# how to find the package of a library this table does not know
SEARCH = {"apt": "apt-file search {}", "dnf": "dnf provides '*/{}'", "pacman": "pacman -F {}"}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


def missing_libraries(ldd_output: str) -> list[str]:
    """Libraries ``ldd`` reported as "not found", each once, in its order."""
    seen: list[str] = []
    for line in ldd_output.splitlines():
        m = _NOT_FOUND.match(line)
        if m and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def package_manager(os_release: str) -> str | None:
    """"apt", "dnf" or "pacman" for the distribution described by /etc/os-release text; None if unknown."""
    ids: list[str] = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("ID", "ID_LIKE"):
            ids += value.strip().strip("\"'").lower().split()
    for family, manager in (("debian", "apt"), ("ubuntu", "apt"), ("fedora", "dnf"), ("rhel", "dnf"),
                            ("centos", "dnf"), ("arch", "pacman")):
        if family in ids:
            return manager
    return None


def install_advice(libraries: Sequence[str], manager: str | None) -> list[str]:
    """The lines that tell how to install ``libraries`` with ``manager``."""
    if manager is None:
        return [f"Install the packages of your distribution that provide: {', '.join(libraries)}."]
    known = [PACKAGES[lib][manager] for lib in libraries if lib in PACKAGES]
    packages = list(dict.fromkeys(known))  # several libraries can come from one package
    lines = [f"  {INSTALL[manager].format(' '.join(packages))}"] if packages else []
    for lib in libraries:
        if lib not in PACKAGES:
            lines.append(f"  (find the package of {lib} with: {SEARCH[manager].format(lib)})")
    return lines


@dataclass(frozen=True)
class Verdict:
    ok: bool
    status: int
    message: str  # empty when there is nothing to say


def platform_plugin(env: Mapping[str, str]) -> str | None:
    """The Qt platform plugin this session will use: "xcb", "wayland", or None when nothing needs checking."""
    forced = env.get("QT_QPA_PLATFORM", "").split(";")[0].strip()
    if forced:
        return forced if forced in ("xcb", "wayland") else None  # offscreen, vnc, eglfs ...: nothing to check
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    if env.get("DISPLAY"):
        return "xcb"
    return ""  # no graphical session


def plugin_file(name: str, pyside_dir: Path) -> Path:
    return pyside_dir / "Qt" / "plugins" / "platforms" / f"libq{name}.so"


def check(
    env: Mapping[str, str],
    ldd: Callable[[Path], str],
    os_release: str,
    pyside_dir: Path | None,
    platform: str = sys.platform,
) -> Verdict:
    """Whether the window can open here; what to install when it cannot."""
    if not platform.startswith("linux") or pyside_dir is None:
        return Verdict(True, 0, "")  # macOS/Windows wheels carry their platform libraries
    plugin = platform_plugin(env)
    if plugin is None:
        return Verdict(True, 0, "")
    if plugin == "":
        return Verdict(False, NO_DISPLAY, "CV Studio needs a graphical session: neither DISPLAY nor WAYLAND_DISPLAY "
                                          "is set. Start it from a desktop, or use the command line (cvstudio train).")
    manager = package_manager(os_release)
    missing: list[str] = []
    if plugin == "wayland":
        # Qt falls back from Wayland to X11 (XWayland) when the wayland plugin cannot load
        wayland = plugin_file("wayland", pyside_dir)
        missing = missing_libraries(ldd(wayland)) if wayland.exists() else ["libqwayland.so"]
        if not missing:
            return Verdict(True, 0, "")
        if "QT_QPA_PLATFORM" in env or not env.get("DISPLAY"):
            return _verdict("wayland", missing, manager)
        plugin = "xcb"
    xcb = plugin_file("xcb", pyside_dir)
    if not xcb.exists():
        return Verdict(True, 0, "")  # a PySide6 build without it: Qt's own message is the best there is
    missing = missing_libraries(ldd(xcb))
    return Verdict(True, 0, "") if not missing else _verdict("xcb", missing, manager)


def _verdict(plugin: str, missing: Sequence[str], manager: str | None) -> Verdict:
    names = ", ".join(missing)
    lines = [f"CV Studio cannot open its window yet: Qt's {plugin} platform plugin needs {names}, "
             f"which {'is' if len(missing) == 1 else 'are'} not installed. Install with:"]
    lines += install_advice(missing, manager)
    lines.append("then run `make run` again.")
    return Verdict(False, MISSING, "\n".join(lines))


def run_ldd(path: Path) -> str:
    try:
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""  # no ldd: let Qt try
    return done.stdout


def find_pyside() -> Path | None:
    """PySide6's folder, located without importing it."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def read_os_release() -> str:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return ""


def main() -> int:
    verdict = check(os.environ, run_ldd, read_os_release(), find_pyside())
    if verdict.message:
        print(verdict.message, file=sys.stderr)
    return verdict.status


if __name__ == "__main__":
    sys.exit(main())
