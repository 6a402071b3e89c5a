"""Dataset download (spikestudio.data.download) against a local fixture server (tests/dataset_server.py), never the
internet: CIFAR-10, Speech Commands and CIFAR10-DVS archives in their real formats are fetched through the mirror
setting, verified against checksums the test computes and injects (SPIKE_STUDIO_DATASET_CHECKSUMS; production uses
the publishers' table), extracted and read; then every bad input gives one message naming the URL or file and
leaves nothing a later run could take for a finished dataset."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from event_schema import VALIDATOR  # each event against its own type's schema
from dataset_server import FixtureServer, checksums_file, cifar10_tarball, dvs_zip, speech_tarball
from spikestudio.data import download, load_dataset
from spikestudio.data.download import SOURCES, DownloadCancelled, DownloadError
from spikestudio.errors import DataError

torch.set_num_threads(1)
RUNTIME = Path(__file__).resolve().parents[1]
C10 = "cifar-10-python.tar.gz"


@pytest.fixture
def serve(monkeypatch, tmp_path):
    servers = []

    def start(files: dict[str, bytes], checksums: dict[str, str] | None = None) -> FixtureServer:
        s = FixtureServer(files)
        servers.append(s)
        monkeypatch.setenv(download.MIRROR_ENV, s.url)
        monkeypatch.setenv(download.CHECKSUMS_ENV, str(checksums_file(tmp_path, files, checksums)))
        for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
            monkeypatch.delenv(k, raising=False)
        return s

    yield start
    for s in servers:
        s.close()


def fetch(cfg: dict, cancel=None) -> tuple[object, list[dict]]:
    events = []

    def report(**f):
        ev = {"v": 1, "type": "download", "t": 0.0, "seq": len(events), **f}
        VALIDATOR.validate(ev)
        events.append(f)

    with download.reporting(report, cancel):
        ds = load_dataset(cfg)
    return ds, events


def leftovers(root: Path) -> list[str]:
    """What a failed download left that is not a .part file, its validator or the lock: nothing, or it is a bug."""
    out = []
    for p in root.rglob("*") if root.exists() else []:
        rel = p.relative_to(root).as_posix()
        if rel in (".downloads", ".downloads/.lock") or rel.endswith((".part", ".part.json")):
            continue
        out.append(rel)
    return out


def test_publishers_table():
    assert SOURCES["cifar10"].resources[0].url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert SOURCES["cifar10"].resources[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert SOURCES["cifar100"].resources[0].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert SOURCES["speech-commands-v2"].resources[0].url.startswith("https://download.tensorflow.org/data/")
    assert [r.file for r in SOURCES["cifar10-dvs"].resources][:2] == ["airplane.zip", "automobile.zip"]
    assert all(r.url.startswith("https://ndownloader.figshare.com/files/") for r in SOURCES["cifar10-dvs"].resources)
    assert all(len(r.md5) == 32 for s in SOURCES.values() for r in s.resources)


def test_cifar10_downloads_into_the_shared_cache_and_is_reused(serve, tmp_path, monkeypatch):
    body = cifar10_tarball()
    srv = serve({C10: body})
    ds, events = fetch({"dataset": "cifar10", "root": None})
    root = download.cache_root() / "cifar10"
    assert (ds.train_size, ds.eval_size, ds.num_classes) == (20, 4, 10)
    assert ds.source == str(root / "cifar-10-batches-py")
    stages = [e["stage"] for e in events]
    assert stages[0] == "download" and {"verify", "extract"} <= set(stages) and stages[-1] == "done"
    last = [e for e in events if e["stage"] == "download"][-1]
    assert last["done"] == last["total"] == len(body) and last["url"] == f"{srv.url}/{C10}" and last["unit"] == "bytes"
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == sorted(
        ["batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "readme.html",
         "test_batch"])
    assert sorted(os.listdir(root)) == [".downloads", "cifar-10-batches-py"]  # the temp dir is gone
    assert os.listdir(root / ".downloads") == [".lock"]  # and the archive
    assert len(srv.gets(C10)) == 1
    ds2, events2 = fetch({"dataset": "cifar10", "root": None})
    assert len(srv.gets(C10)) == 1 and events2 == []  # reused: no request, no event
    assert torch.equal(ds2.train_x, ds.train_x)


def test_speech_commands_and_an_explicit_root(serve, tmp_path):
    body = speech_tarball()
    srv = serve({"speech_commands_v0.02.tar.gz": body})
    root = tmp_path / "sc"
    ds, _ = fetch({"dataset": "speech-commands-v2", "root": str(root)})
    assert (root / "speech_commands_v0.02" / "testing_list.txt").is_file()
    assert (ds.train_size, ds.eval_size, ds.num_classes) == (5, 3, 35)
    assert len(srv.gets("speech_commands_v0.02.tar.gz")) == 1
    assert not (root / ".downloads" / "speech_commands_v0.02.tar.gz").exists()


def test_cifar10_dvs_ten_zips_and_the_frame_cache_progress(serve, tmp_path):
    files = {r.file: dvs_zip(r.file[:-4], seed=i) for i, r in enumerate(SOURCES["cifar10-dvs"].resources)}
    srv = serve(files)
    ds, events = fetch({"dataset": "cifar10-dvs", "root": str(tmp_path / "dvs"), "frames_number": 2,
                        "sensor_size": 32})
    assert (ds.num_classes, ds.train_size + ds.eval_size) == (10, 30)
    classes = [p.name for p in (tmp_path / "dvs" / "extract").iterdir() if not p.name.startswith("frames_number")]
    assert sorted(classes) == sorted(f[:-4] for f in files)
    assert all(len(srv.gets(f)) == 1 for f in files)
    frames = [e for e in events if e["stage"] == "frames"]
    assert frames and frames[-1]["done"] == frames[-1]["total"] == 30 and frames[-1]["unit"] == "samples"


def test_an_interrupted_download_resumes_with_range(serve, tmp_path):
    body = cifar10_tarball(n=64)
    srv = serve({C10: body})
    srv.cut[C10] = 5000
    cfg = {"dataset": "cifar10", "root": str(tmp_path / "c")}
    with pytest.raises(DownloadError) as e:
        fetch(cfg)
    assert f"{srv.url}/{C10}" in e.value.message and "closed the connection" in e.value.message
    assert "resumes" in e.value.hint
    part = tmp_path / "c" / ".downloads" / (C10 + ".part")
    assert part.stat().st_size == 5000
    assert leftovers(tmp_path / "c") == []
    ds, events = fetch(cfg)
    assert srv.gets(C10) == [None, "bytes=5000-"]
    assert [e for e in events if e["stage"] == "download"][0]["resumed_from"] == 5000
    assert ds.train_size == 320 and not part.exists()


def test_a_changed_file_restarts_instead_of_resuming(serve, tmp_path):
    srv = serve({C10: cifar10_tarball(n=64)})
    srv.cut[C10] = 3000
    cfg = {"dataset": "cifar10", "root": str(tmp_path / "c")}
    with pytest.raises(DownloadError):
        fetch(cfg)
    new = cifar10_tarball(n=64, seed=1)  # the server's file changed: If-Range fails, the full file comes back
    srv.files[C10] = new
    checksums_file(tmp_path, {C10: new})
    ds, _ = fetch(cfg)
    assert ds.train_size == 320 and srv.gets(C10)[-1] == "bytes=3000-"


@pytest.mark.parametrize("fault", ["404", "no network", "proxy refuses"])
def test_unreachable_sources_name_the_url(serve, tmp_path, monkeypatch, fault):
    srv = serve({"other.tar.gz": b"x"})
    root = tmp_path / "c"
    if fault == "no network":
        monkeypatch.setenv(download.MIRROR_ENV, "http://127.0.0.1:9/m")
    if fault == "proxy refuses":
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    with pytest.raises(DownloadError) as e:
        fetch({"dataset": "cifar10", "root": str(root)})
    msg = e.value.message
    assert C10 in msg and "\n" not in msg
    if fault == "404":
        assert "HTTP 404" in msg and "mirror" in msg and "put cifar-10-python.tar.gz on the mirror" in e.value.hint
    elif fault == "no network":
        assert "cannot reach 127.0.0.1:9" in msg and "datasetMirror" in e.value.hint
    else:
        assert "proxy http://127.0.0.1:9" in msg and "http_proxy" in e.value.hint
    assert leftovers(root) == [] and not (root / ".downloads" / (C10 + ".part")).exists()


def test_checksum_mismatch_deletes_the_file(serve, tmp_path):
    serve({C10: cifar10_tarball()}, checksums={C10: "0" * 32})
    root = tmp_path / "c"
    with pytest.raises(DownloadError) as e:
        fetch({"dataset": "cifar10", "root": str(root)})
    assert "checksum mismatch" in e.value.message and "expected 00000000" in e.value.message and C10 in e.value.message
    assert list((root / ".downloads").iterdir()) == [root / ".downloads" / ".lock"] and leftovers(root) == []


def test_production_checksums_reject_a_fixture(serve, tmp_path, monkeypatch):
    serve({C10: cifar10_tarball()})
    monkeypatch.delenv(download.CHECKSUMS_ENV)  # the publishers' table: the fixture is not the real archive
    with pytest.raises(DownloadError, match="expected c58f30108f718f92721af3b95e74349a"):
        fetch({"dataset": "cifar10", "root": str(tmp_path / "c")})


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_corrupt_archives_are_deleted(serve, tmp_path, kind):
    good = cifar10_tarball()
    bad = good[: len(good) // 2] if kind == "truncated" else b"\x1f\x8b" + os.urandom(3000)
    serve({C10: bad})  # the injected checksum matches the bad bytes: extraction must catch it
    root = tmp_path / "c"
    with pytest.raises(DownloadError) as e:
        fetch({"dataset": "cifar10", "root": str(root)})
    assert str(root / ".downloads" / C10) in e.value.message and "corrupt" in e.value.message
    assert "run again" in e.value.hint
    assert leftovers(root) == []


def test_an_archive_without_the_dataset_folder(serve, tmp_path):
    from dataset_server import _tar

    serve({C10: _tar({"something/else": b"1"})})
    root = tmp_path / "c"
    with pytest.raises(DownloadError, match="does not contain cifar-10-batches-py/"):
        fetch({"dataset": "cifar10", "root": str(root)})
    assert leftovers(root) == []


def test_disk_full_keeps_the_part_for_a_resume(serve, tmp_path, monkeypatch):
    body = cifar10_tarball(n=64)
    srv = serve({C10: body})
    real_open = open
    state = {"full": True}

    class Full:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            if state["full"] and self.n + len(b) > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.n += len(b)
            return self.f.write(b[:])

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(download, "open", lambda p, mode="r", *a, **k: Full(real_open(p, mode, *a, **k))
                        if str(p).endswith(".part") else real_open(p, mode, *a, **k), raising=False)
    download.CHUNK, chunk = 1024, download.CHUNK
    try:
        root = tmp_path / "c"
        with pytest.raises(DownloadError) as e:
            fetch({"dataset": "cifar10", "root": str(root)})
    finally:
        download.CHUNK = chunk
    assert "disk full" in e.value.message and str(root / ".downloads" / (C10 + ".part")) in e.value.message
    assert "free disk space" in e.value.hint and leftovers(root) == []
    state["full"] = False  # space freed: the next run resumes
    ds, events = fetch({"dataset": "cifar10", "root": str(root)})
    assert ds.train_size == 320 and srv.gets(C10)[-1] == "bytes=4096-"


def test_read_only_root(serve, tmp_path, monkeypatch):
    serve({C10: cifar10_tarball()})
    root = tmp_path / "ro"
    real = Path.mkdir

    def mkdir(self, *a, **k):
        if str(self).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(DownloadError) as e:
        fetch({"dataset": "cifar10", "root": str(root)})
    assert f"data.root {root} is not writable (Read-only file system)" in e.value.message
    assert "writable folder" in e.value.hint and not root.exists()


def test_cancel_keeps_the_part(serve, tmp_path):
    srv = serve({C10: cifar10_tarball(n=64)})
    srv.slow[C10] = 2.0
    root = tmp_path / "c"
    with pytest.raises(DownloadCancelled):
        fetch({"dataset": "cifar10", "root": str(root)}, cancel=lambda: True)
    assert leftovers(root) == []


def test_manual_datasets_say_where_to_get_them(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset({"dataset": "dvs128-gesture", "root": None})
    assert "cannot be downloaded automatically" in e.value.message
    assert "research.ibm.com/interactive/dvsgesture" in e.value.hint
    assert str(download.cache_root() / "dvs128-gesture" / "DvsGesture" / "trials_to_train.txt") in e.value.hint
    with pytest.raises(DataError) as e:
        load_dataset({"dataset": "imagenet", "root": str(tmp_path / "in")})
    assert "image-net.org" in e.value.hint and str(tmp_path / "in" / "train") in e.value.hint


def test_download_false_reads_what_is_there(serve, tmp_path):
    srv = serve({C10: cifar10_tarball()})
    with pytest.raises(DataError, match="test_batch not found"):
        load_dataset({"dataset": "cifar10", "root": str(tmp_path / "c"), "download": False})
    assert srv.requests == []


def test_two_runs_download_once(serve, tmp_path):
    """Two processes start on the same dataset: one downloads, the other waits on the lock and reuses it."""
    body = cifar10_tarball(n=64)
    srv = serve({C10: body})
    srv.slow[C10] = 2.0
    script = ("import json, sys\nfrom spikestudio.data import download, load_dataset\nev = []\n"
              "with download.reporting(lambda **f: ev.append(f['stage'])):\n"
              "    ds = load_dataset({'dataset': 'cifar10', 'root': sys.argv[1]})\n"
              "print(json.dumps([ds.train_size, ev]))\n")
    env = dict(os.environ, PYTHONPATH=str(RUNTIME), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "c")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    results = [json.loads(o[0]) for o in outs]
    assert [r[0] for r in results] == [320, 320]
    assert len(srv.gets(C10)) == 1
    stages = sorted((r[1] for r in results), key=len)
    assert stages[0] == ["wait", "reused"] and "download" in stages[1]


def test_a_training_run_downloads_and_reports_with_schema_valid_events(serve, tmp_path):
    """python -m spikestudio train on cifar10 with data.root null: download events, one step, done completed."""
    body = cifar10_tarball(n=8)
    srv = serve({C10: body})
    cfg = {"version": 1, "name": "c10", "source": None,
           "model": {"arch": "spikformer", "variant": "cifar", "embed_dim": 16, "num_heads": 2, "depth": 1,
                     "mlp_ratio": 2, "time_steps": 1, "in_channels": 3, "num_classes": 10, "img_size": 32},
           "data": {"dataset": "cifar10", "root": None, "batch_size": 4, "eval_batch_size": 8, "download": True},
           "train": {"epochs": 1, "device": "cpu", "max_steps_per_epoch": 1},
           "telemetry": {"step_every": 1, "firing_every": 1}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(RUNTIME), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    r = subprocess.run([sys.executable, "-m", "spikestudio", "train", "--config", str(tmp_path / "c.json"),
                        "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    for ev in events:
        VALIDATOR.validate(ev)
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed", r.stderr[-3000:]
    types = [e["type"] for e in events]
    assert "download" in types and types.index("download") < types.index("step")
    assert [e["stage"] for e in events if e["type"] == "download"][-1] == "done"
    assert len(srv.gets(C10)) == 1
    # a bad mirror: one error event naming the URL, done failed
    srv.files.clear()
    r = subprocess.run([sys.executable, "-m", "spikestudio", "train", "--config", str(tmp_path / "c.json"),
                        "--run-dir", str(tmp_path / "run2")], env={**env, "SPIKE_STUDIO_DATASETS": str(tmp_path / "x")},
                       capture_output=True, text=True, timeout=300)
    events = [json.loads(ln) for ln in r.stdout.splitlines()]
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["kind"] == "download" and f"{srv.url}/{C10}" in errors[0]["message"]
    assert events[-1]["status"] == "failed" and "Traceback" not in r.stderr
