"""core/ must never import Qt or the GUI (DESIGN.md section 3): prove it with Qt blocked."""

import subprocess
import sys

BLOCK_QT_AND_IMPORT_CORE = r"""
import importlib, pkgutil, sys

class BlockQt:
    blocked = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "cvstudio.gui")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked or name.startswith("cvstudio.gui"):
            raise ImportError(f"core imported {name}")
        return None

sys.meta_path.insert(0, BlockQt())
import cvstudio.core
names = [m.name for m in pkgutil.walk_packages(cvstudio.core.__path__, "cvstudio.core.")]
for name in names:
    importlib.import_module(name)
import cvstudio.cli
print(len(names))
"""


def test_every_core_module_imports_with_qt_blocked():
    proc = subprocess.run([sys.executable, "-c", BLOCK_QT_AND_IMPORT_CORE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) >= 10  # really walked the package
