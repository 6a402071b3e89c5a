"""The runtime protocol (docs/contracts.md §1): JSON-lines events out, JSON-lines control lines in.

- `claim_stdout()` keeps the real stdout for the protocol and points both `sys.stdout` and file descriptor 1 at
  stderr, so a stray `print` (ours, a library's, or C code writing to fd 1) can never corrupt the event stream.
- `Emitter` writes each event `{v, type, t, seq, ...}` as one line to the protocol stream and appends it to
  `RUN_DIR/events.jsonl`, flushing both per line.
- `ControlReader` reads stdin control lines on a daemon thread (`{"type":"stop"}` or `stop`); EOF is not a stop.
- A reader that goes away (the VS Code window reloads: its stdout/stderr pipes close) never ends a run: the
  emitter drops the stream on EPIPE and keeps appending to events.jsonl, and after `claim_stdout()` `sys.stderr`
  never raises — on its first failed write file descriptors 2 (and 1) are pointed at `RUN_DIR/stderr.log` (or
  /dev/null) and the note is logged there once.

This module does not import torch.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

from spikestudio import PROTOCOL_VERSION
from spikestudio.protocol_events import EVENT_TYPES, INIT_FROM_KINDS  # generated from schemas/events.schema.json


def init_from_field(report: dict) -> dict:
    """The `model` event's `init_from` object (events.schema.json) from a load report
    (spikestudio.models.load_init_checkpoint): which file, what it was converted from, what was ignored."""
    kind = report.get("kind")
    if kind not in INIT_FROM_KINDS:
        raise ValueError(f"init_from kind must be one of {INIT_FROM_KINDS}, got {kind!r}")
    return {"path": str(report["path"]), "kind": kind, "converted_from": report.get("converted_from"),
            "source": report.get("source"), "ignored": [str(k) for k in report.get("ignored") or []],
            "rebuilt": [str(k) for k in report.get("rebuilt") or []], "qkv_layout": report.get("qkv_layout")}


def init_from_summary(info: dict) -> str:
    """One log line for an `init_from` object."""
    text = f"weights from {info['path']} ({info['kind']}"
    if info.get("converted_from"):
        text += f", converted from the {info['converted_from']}"
    if info.get("source"):
        text += f" of {info['source']}"
    text += ")"
    if info.get("ignored"):
        text += f"; ignored {len(info['ignored'])} unused key(s): {', '.join(info['ignored'])}"
    if info.get("rebuilt"):
        text += f"; rebuilt {len(info['rebuilt'])} buffer(s): {', '.join(info['rebuilt'])}"
    return text


_claimed: IO[str] | None = None
_stderr_fallback: Path | None = None
_reader_gone_logged = False


def set_stderr_fallback(path: str | os.PathLike | None) -> None:
    """Where stderr goes once its reader is gone (normally RUN_DIR/stderr.log)."""
    global _stderr_fallback
    _stderr_fallback = Path(path) if path is not None else None


def _redirect_fds_to_fallback() -> None:
    """Point fd 2 (and fd 1, which claim_stdout made a copy of fd 2) at the fallback log, else /dev/null."""
    target = None
    if _stderr_fallback is not None:
        try:
            target = os.open(str(_stderr_fallback), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError:
            target = None
    if target is None:
        target = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(target, 2)
        if _claimed is not None:
            os.dup2(target, 1)
    finally:
        os.close(target)


def _log_once(message: str) -> None:
    """Write a note to stderr once; never raises."""
    global _reader_gone_logged
    if _reader_gone_logged:
        return
    _reader_gone_logged = True
    try:
        sys.stderr.write(f"spikestudio: {message}\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a broken stderr must not end the run
        pass


class _SafeStderr:
    """Wraps the process's stderr so that writing never raises (a broken pipe would otherwise end training).

    On the first failure fd 2 is redirected to the fallback log (RUN_DIR/stderr.log) and the write retried there."""

    def __init__(self, inner: IO[str]):
        self._inner = inner
        self._broken = False

    def _recover(self) -> None:
        self._broken = True
        try:
            _redirect_fds_to_fallback()
        except OSError:
            pass
        _log_once("the reader of stdout/stderr went away (window closed or reloaded?): training continues; "
                  "events go to events.jsonl, logs to stderr.log")

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except (OSError, ValueError):
            if self._broken:
                return len(text)
            self._recover()
            try:
                return self._inner.write(text)
            except (OSError, ValueError):
                return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except (OSError, ValueError):
            if not self._broken:
                self._recover()
                try:
                    self._inner.flush()
                except (OSError, ValueError):
                    pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def claim_stdout() -> IO[str]:
    """Return a line-buffered text stream on the process's real stdout and redirect everything else to stderr.

    After this call `print()` and writes to file descriptor 1 land on stderr. Idempotent.
    """
    global _claimed
    if _claimed is not None:
        return _claimed
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        real_fd = os.dup(1)
        os.dup2(2, 1)
        stream: IO[str] = io.TextIOWrapper(
            io.FileIO(real_fd, "w", closefd=True), encoding="utf-8", newline="\n", line_buffering=True
        )
    except OSError:
        # No usable fd 1 (e.g. an embedded interpreter): fall back to the Python-level stream.
        stream = sys.__stdout__ if sys.__stdout__ is not None else sys.stderr
    if not isinstance(sys.stderr, _SafeStderr) and sys.stderr is not None:
        sys.stderr = _SafeStderr(sys.stderr)  # type: ignore[assignment]
    sys.stdout = sys.stderr
    _claimed = stream
    return stream


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: non-finite floats become null, tuples lists, numpy/torch scalars numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return _clean(item())
        except Exception:
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _clean(tolist())
    return str(value)


class Emitter:
    """Writes protocol events. Thread-safe; `seq` starts at 0 and increases by one per event."""

    def __init__(self, stream: IO[str] | None, run_dir: str | os.PathLike | None = None, clock: Callable[[], float] = time.time,
                 resume: bool = False):
        """resume: continue an existing RUN_DIR/events.jsonl — `seq` continues after its last parsable event and a
        torn last line (a process killed mid-write) is cut off first, so appended lines stay whole."""
        self._stream = stream
        self._lock = threading.Lock()
        self._seq = 0
        self._clock = clock
        self._file: IO[str] | None = None
        self.events_path: Path | None = None
        self.resumed_after_seq: int | None = None
        if run_dir is not None:
            self.events_path = Path(run_dir) / "events.jsonl"
            if resume and self.events_path.exists():
                self.resumed_after_seq = _repair_and_last_seq(self.events_path)
                if self.resumed_after_seq is not None:
                    self._seq = self.resumed_after_seq + 1
            self._file = open(self.events_path, "a", encoding="utf-8", newline="\n")
            set_stderr_fallback(Path(run_dir) / "stderr.log")

    @property
    def seq(self) -> int:
        return self._seq

    def emit(self, type: str, **fields: Any) -> dict:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        with self._lock:
            event = {"v": PROTOCOL_VERSION, "type": type, "t": round(self._clock(), 3), "seq": self._seq}
            for key, value in fields.items():
                if key in event:
                    raise ValueError(f"event field {key!r} is reserved")
                event[key] = _clean(value)
            line = json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"
            self._seq += 1
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
            if self._stream is not None:
                try:
                    self._stream.write(line)
                    self._stream.flush()
                except (BrokenPipeError, ValueError, OSError) as exc:
                    # The reader went away; keep training and keep writing events.jsonl.
                    stream, self._stream = self._stream, None
                    if stream is _claimed:
                        try:
                            stream.close()  # drop what is buffered for the dead pipe (no "Exception ignored" at exit)
                        except Exception:  # noqa: BLE001
                            pass
                    _log_once(f"stdout is gone ({exc.__class__.__name__}): training continues; events go to "
                              f"{self.events_path or 'nowhere (no run directory)'} only")
            return event

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _repair_and_last_seq(path: Path) -> int | None:
    """Cut a torn (newline-less) last line off `path`; return the largest `seq` of its parsable events."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    last: int | None = None
    for raw in data.splitlines():
        try:
            ev = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(ev, dict) and isinstance(ev.get("seq"), int):
            last = ev["seq"] if last is None else max(last, ev["seq"])
    return last


class ControlReader:
    """Reads control lines from a file descriptor (stdin) on a daemon thread.

    Reads with `os.read` rather than `sys.stdin` so the thread never holds the interpreter's stdin lock (which
    can abort interpreter shutdown). `on_stop()` is called for `{"type":"stop"}` or a plain `stop` line; other
    messages go to `on_other(message)`; EOF just ends the thread.
    """

    def __init__(self, on_stop: Callable[[], None], on_other: Callable[[dict], None] | None = None, fd: int = 0):
        self._on_stop = on_stop
        self._on_other = on_other
        self._fd = fd
        self._thread: threading.Thread | None = None

    def start(self) -> "ControlReader":
        self._thread = threading.Thread(target=self._run, name="spikestudio-control", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                if buf.strip():
                    self.handle_line(buf.decode("utf-8", "replace"))
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.handle_line(line.decode("utf-8", "replace"))

    def handle_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        message: Any
        if text.startswith("{"):
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                message = {"type": "invalid", "line": text}
        else:
            message = {"type": text}
        if not isinstance(message, dict):
            message = {"type": "invalid", "line": text}
        if message.get("type") == "stop":
            self._on_stop()
        elif self._on_other is not None:
            self._on_other(message)
