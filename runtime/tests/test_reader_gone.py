"""A run whose reader goes away (the VS Code window reloads: the stdout/stderr pipes close) keeps training,
finishes with `done` in events.jsonl, and logs the note to RUN_DIR/stderr.log."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

from test_train_run import TIMEOUT, command, env, tiny_config, write_config


def test_training_survives_its_stdout_and_stderr_readers_going_away(tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_config(train={"epochs": 2, "max_steps_per_epoch": 15}, telemetry={"step_every": 1, "firing_every": 1000})
    proc = subprocess.Popen(command(write_config(tmp_path, cfg), run_dir), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    try:
        first = proc.stdout.readline()
        assert json.loads(first)["type"] == "hello"
        # the reader goes away: both pipes close (stdin stays open, as when the extension host dies it reads EOF;
        # EOF is not a stop either way)
        proc.stdout.close()
        proc.stderr.close()
        code = proc.wait(timeout=TIMEOUT)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events)))
    done = events[-1]
    assert done["type"] == "done" and done["status"] == "completed", done
    assert done["epochs_completed"] == 2
    log = (run_dir / "stderr.log").read_text()
    assert log.count("went away") + log.count("stdout is gone") == 1, log
    assert "Traceback" not in log, log


def test_emitter_logs_a_broken_stream_once(tmp_path, capsys):
    from spikestudio import protocol

    class Broken:
        def write(self, _):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    protocol._reader_gone_logged = False
    em = protocol.Emitter(Broken(), tmp_path)
    for i in range(3):
        em.emit("warning", message=f"w{i}")
    em.close()
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 3
    assert capsys.readouterr().err.count("stdout is gone") == 1
