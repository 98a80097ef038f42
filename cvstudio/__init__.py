"""CV Studio: a desktop workbench for hands-on computer vision with PyTorch."""

from importlib import metadata

try:
    __version__ = metadata.version("cvstudio")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
