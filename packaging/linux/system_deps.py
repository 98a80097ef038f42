"""List the shared libraries a bundle folder needs from the system (not inside the folder).

    python packaging/linux/system_deps.py dist/cvstudio

Prints one line per system library with the Debian package that provides it
(``dpkg -S``) where known, and "NOT FOUND" for a library this machine lacks.
Used to keep the .deb's Depends honest (packaging/linux/make_deb.sh).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def elf_files(folder: Path):
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    yield path


def needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", "-W", str(path)], capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/cvstudio")
    bundled = {p.name for p in folder.rglob("*")}
    wanted: dict[str, set[str]] = {}
    for elf in elf_files(folder):
        for lib in needed(elf):
            if lib not in bundled:
                wanted.setdefault(lib, set()).add(str(elf.relative_to(folder)))
    ldconfig = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    paths = {}
    for line in ldconfig.splitlines():
        if "=>" in line and "x86-64" in line:
            name, path = line.strip().split(" ", 1)[0], line.rsplit("=>", 1)[1].strip()
            paths.setdefault(name, path)
    for lib in sorted(wanted):
        path = paths.get(lib)
        package = "NOT FOUND"
        if path:
            real = os.path.realpath(path)
            res = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
            if res.returncode != 0:
                res = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            package = res.stdout.split(":", 1)[0] if res.returncode == 0 else path
        users = sorted(wanted[lib])
        print(f"{lib:<32} {package:<28} {users[0]}{' (+%d more)' % (len(users) - 1) if len(users) > 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
