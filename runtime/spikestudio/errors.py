"""Errors the runtime reports to the user as protocol `error` events instead of tracebacks."""

from __future__ import annotations


class SpikeStudioError(Exception):
    """Base class: `kind` goes into the error event, `hint` tells the user what to do."""

    kind = "internal"
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(SpikeStudioError):
    """A bad value in the resolved config. `key` is the dotted path, e.g. `model.num_heads`."""

    kind = "config"
    exit_code = 2

    def __init__(self, key: str, message: str, hint: str | None = None):
        super().__init__(f"{key}: {message}", hint)
        self.key = key


class DataError(SpikeStudioError):
    """A missing, truncated or wrong-format dataset file; the message names the file."""

    kind = "data"


class EnvironmentProblem(SpikeStudioError):
    """Something missing from the Python environment (torch, CUDA, ...)."""

    kind = "environment"


class NonFiniteLoss(SpikeStudioError):
    """The training loss became NaN or infinite."""

    kind = "nan"


class OutOfMemory(SpikeStudioError):
    """The device (or host) ran out of memory."""

    kind = "oom"


class UserCodeError(SpikeStudioError):
    """An exception raised by the researcher's own model code (import, construction or forward). `file` and `line`
    point at the innermost frame of that code, so the editor can show the message there."""

    kind = "user_code"

    def __init__(self, message: str, file: str | None = None, line: int | None = None, hint: str | None = None,
                 stage: str = "forward"):
        super().__init__(message, hint)
        self.file = file
        self.line = line
        self.stage = stage
