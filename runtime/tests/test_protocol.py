"""The JSON-lines emitter, the control reader and stdout purity (docs/contracts.md §1)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from event_schema import VALIDATOR  # each event against its own type's schema
from spikestudio.protocol import ControlReader, Emitter

RUNTIME = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(RUNTIME) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_emitter_seq_v_t_and_file_equals_stream(tmp_path):
    stream = io.StringIO()
    em = Emitter(stream, tmp_path)
    em.emit("warning", message="one")
    em.emit("warning", message="two", hint="h")
    em.emit("error", kind="internal", message="boom")
    em.close()
    lines = stream.getvalue().splitlines()
    assert (tmp_path / "events.jsonl").read_text().splitlines() == lines
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == [0, 1, 2]
    for e in events:
        assert e["v"] == 1 and isinstance(e["t"], float) and abs(e["t"] - time.time()) < 60
        VALIDATOR.validate(e)


@pytest.mark.emits_invalid_events  # a NaN loss is written as null
def test_emitter_appends_and_sanitises(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"old": 1}\n')
    em = Emitter(None, tmp_path)
    ev = em.emit("step", epoch=1, step=1, epoch_step=1, steps_per_epoch=1, loss=float("nan"), lr=(0.1), img_per_s=1.0)
    em.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert lines[0] == '{"old": 1}'
    assert json.loads(lines[1])["loss"] is None  # never write NaN (invalid JSON)
    assert ev["seq"] == 0


def test_emitter_rejects_unknown_type_and_reserved_fields():
    em = Emitter(io.StringIO())
    with pytest.raises(ValueError):
        em.emit("bogus")
    with pytest.raises(ValueError):
        em.emit("warning", message="x", seq=5)
    assert em.seq == 0  # nothing was emitted


def test_emitter_seq_unique_under_threads():
    stream = io.StringIO()
    em = Emitter(stream)

    def work():
        for _ in range(200):
            em.emit("warning", message="x")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [json.loads(line)["seq"] for line in stream.getvalue().splitlines()]
    assert seqs == list(range(800))


def test_emitter_survives_closed_stream(tmp_path):
    stream = io.StringIO()
    em = Emitter(stream, tmp_path)
    stream.close()
    em.emit("warning", message="still logged")
    em.close()
    assert "still logged" in (tmp_path / "events.jsonl").read_text()


@pytest.mark.parametrize(
    "line,stops",
    [('{"type":"stop"}', True), ("stop", True), ("  stop  ", True), ('{"type":"probe","sample":3}', False),
     ("garbage {", False), ("[1,2]", False), ("", False)],
)
def test_control_lines(line, stops):
    stopped, other = [], []
    reader = ControlReader(lambda: stopped.append(1), other.append)
    reader.handle_line(line)
    assert bool(stopped) == stops
    if not stops and line.strip():
        assert len(other) == 1


def test_control_reader_thread_stop_and_eof():
    r, w = os.pipe()
    stopped = threading.Event()
    others = []
    ControlReader(stopped.set, others.append, fd=r).start()
    os.write(w, b'{"type":"probe","sample":1}\n')
    os.write(w, b'{"type":"st')
    time.sleep(0.05)
    assert not stopped.is_set()
    os.write(w, b'op"}\n')
    assert stopped.wait(5)
    os.close(w)

    r2, w2 = os.pipe()
    stopped2 = threading.Event()
    reader = ControlReader(stopped2.set, fd=r2).start()
    os.close(w2)  # EOF is not a stop
    reader._thread.join(5)
    assert not reader._thread.is_alive() and not stopped2.is_set()
    os.close(r)
    os.close(r2)


PURITY_SCRIPT = r"""
import os, sys
from spikestudio.protocol import claim_stdout, Emitter
out = claim_stdout()
print("stray print")
sys.stdout.write("stray write\n")
os.write(1, b"raw fd write\n")
em = Emitter(out, sys.argv[1])
em.emit("warning", message="first")
print("another stray")
em.emit("warning", message="second")
"""


def test_stdout_purity_subprocess(tmp_path):
    p = subprocess.run([sys.executable, "-c", PURITY_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["first", "second"]
    assert "stray print" in p.stderr and "raw fd write" in p.stderr and "another stray" in p.stderr
    assert (tmp_path / "events.jsonl").read_text() == p.stdout
