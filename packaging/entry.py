"""Entry point of the packaged (PyInstaller) CV Studio: ``cvstudio [command] ...``.

The same command line as ``python -m cvstudio``, plus what a frozen program
needs before anything else runs:

- ``multiprocessing.freeze_support()``: a child process started by
  multiprocessing re-enters this file and must not open a second window;
- a windowed program (Windows ``--windowed``, a macOS .app, a desktop menu
  entry) may have no stdout/stderr: they are sent to ``console.log`` in the
  user log folder instead of being None, and native crashes are written there
  by faulthandler;
- ``cvstudio SCRIPT.py ARGS...`` runs a Python file with the bundled
  interpreter. The core verifies an exported Python model by running it with
  ``sys.executable``, which in a bundle is this program, not a Python.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _log_dir() -> str:
    home = os.environ.get("CVSTUDIO_HOME")
    if home:
        return os.path.join(home, "logs")
    import platformdirs

    return platformdirs.user_log_dir("cvstudio", appauthor=False)


def _fix_stdio() -> None:
    if sys.stdout is not None and sys.stderr is not None:
        return
    try:
        folder = _log_dir()
        os.makedirs(folder, exist_ok=True)
        stream = open(os.path.join(folder, "console.log"), "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream
        import faulthandler

        faulthandler.enable(stream)


def _run_python_file(path: str, args: list[str]) -> int:
    import runpy

    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0


def main() -> int:
    multiprocessing.freeze_support()
    _fix_stdio()
    args = sys.argv[1:]
    if getattr(sys, "frozen", False) and args and args[0].endswith(".py") and os.path.isfile(args[0]):
        return _run_python_file(args[0], args[1:])
    from cvstudio.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
