"""The exceptions the core raises for problems a user can fix.

Everything derived from :class:`UserError` carries a one-line, plain message
that the command line prints (exit status 2) and the GUI shows in a dialog.
"""


class UserError(Exception):
    """Bad input or an impossible request; the message says what to change."""


class DataError(UserError):
    """A dataset cannot be found, read or used as asked."""


class SpecError(UserError):
    """A model specification cannot be built (the message names the layer)."""

    def __init__(self, message: str, layer_index: int | None = None):
        super().__init__(message)
        self.layer_index = layer_index


class CheckpointError(UserError):
    """A checkpoint file is missing, malformed or does not match its model."""


class ImageError(UserError):
    """An image file cannot be read or decoded."""


class ConfigError(UserError):
    """A training or data setting is out of range."""


class TrainingError(UserError):
    """Training cannot go on (out of memory, unavailable device); the message suggests a fix."""


class Cancelled(Exception):
    """Long work stopped because ``RunControl.request_stop()`` was called; nothing half-done was kept.

    Not a :class:`UserError`: nothing is wrong with the input, the user asked to stop.
    """


def raise_if_stopped(control) -> None:  # control: cvstudio.core.control.RunControl | None
    """Wait while ``control`` is paused; raise :class:`Cancelled` once a stop was requested."""
    if control is None:
        return
    control.wait_while_paused()
    if control.stop_requested:
        raise Cancelled("loading the dataset was stopped")


# How a data message tells the user to download. The window shows these messages through for_window:
# its users have a Download button, not a command line.
DOWNLOAD_ADVICE = "run with --download (or press Download)"
WINDOW_DOWNLOAD_ADVICE = "press Download"


def for_window(message: str) -> str:
    """A data message worded for the window: the Download button instead of the --download option."""
    return message.replace(DOWNLOAD_ADVICE, WINDOW_DOWNLOAD_ADVICE)
