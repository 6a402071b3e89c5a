"""A local HTTP server for the dataset-download tests (never the internet) and fixture archives in the real formats.

`FixtureServer(files)`: http.server on 127.0.0.1 with an ephemeral port, serving `files` ({name: bytes}) under
`<url>/<name>` with HTTP Range (206 + Content-Range), an ETag validator honoured through If-Range, 404 for anything
else, and per-file faults: `cut[name] = n` sends the full Content-Length but only n bytes, then closes (once);
`slow[name] = seconds` spreads the body over that time. Every request is recorded as (name, Range header).

Fixture archives: `cifar10_tarball()` (cifar-10-python.tar.gz with the real member names: cifar-10-batches-py/
data_batch_1..5, test_batch, batches.meta, readme.html; pickled dicts of uint8 rows), `speech_tarball(version)`
(speech_commands_v0.0N.tar.gz: word folders of 16-bit PCM wavs, the split lists, _background_noise_, at the archive's
top level as the real one), `dvs_zip(cls)` (one CIFAR10-DVS class zip: <class>/cifar10_<class>_<i>.aedat, AEDAT 2.0).
`checksums_file(tmp, files)` writes the SPIKE_STUDIO_DATASET_CHECKSUMS table of their md5s."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
import threading
import time
import wave
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import numpy as np


class FixtureServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []
        self.cut: dict[str, int] = {}
        self.slow: dict[str, float] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                name = unquote(self.path.split("?")[0].rstrip("/").split("/")[-1])
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                body = server.files.get(name)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                etag = '"' + hashlib.md5(body).hexdigest() + '"'
                start = 0
                if rng and rng.startswith("bytes=") and self.headers.get("If-Range", etag) == etag:
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                part = body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(part)))
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                n = server.cut.pop(name, None)
                if n is not None:
                    self.wfile.write(part[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                delay = server.slow.get(name, 0.0)
                pieces = 20 if delay else 1
                step = max(1, -(-len(part) // pieces))
                for i in range(0, len(part), step):
                    self.wfile.write(part[i:i + step])
                    if delay:
                        time.sleep(delay / pieces)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/mirror"

    def gets(self, name: str) -> list[str | None]:
        return [r for n, r in self.requests if n == name]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _tar(members: dict[str, bytes], dirs: list[str] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            t.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar10_tarball(n: int = 4, seed: int = 0) -> bytes:
    r = np.random.default_rng(seed)
    members = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = r.integers(0, 256, (n, 3072), dtype=np.uint8)
        members[f"cifar-10-batches-py/{name}"] = pickle.dumps(
            {b"batch_label": name.encode(), b"labels": [int(v) for v in r.integers(0, 10, n)], b"data": data,
             b"filenames": [b"x.png"] * n}, protocol=2)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_cases_per_batch": n, b"num_vis": 3072},
        protocol=2)
    members["cifar-10-batches-py/readme.html"] = b"<html>fixture</html>"
    return _tar(members, ["cifar-10-batches-py"])


def _wav(samples) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
    return buf.getvalue()


def speech_tarball(words=("yes", "no", "bed")) -> bytes:
    r = np.random.default_rng(0)
    members = {}
    for wd in words:
        for i in range(3):
            members[f"./{wd}/s{i}_nohash_0.wav"] = _wav(r.integers(-3000, 3000, 16000 - 100 * i))
    members["./_background_noise_/white_noise.wav"] = _wav(r.integers(-3000, 3000, 16000))
    members["./validation_list.txt"] = b"yes/s1_nohash_0.wav\n"
    members["./testing_list.txt"] = "".join(f"{w}/s2_nohash_0.wav\n" for w in words).encode()
    members["./LICENSE"] = b"CC BY 4.0"
    return _tar(members, ["./"] + [f"./{w}" for w in words] + ["./_background_noise_"])


def dvs_zip(cls: str, n: int = 3, seed: int = 0) -> bytes:
    from spikestudio.data.aedat import cifar10dvs_address, encode_aedat2

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            r = np.random.default_rng(seed * 100 + i)
            k = 40 + i
            addr = cifar10dvs_address(r.integers(96, 128, k), r.integers(96, 128, k), r.integers(0, 2, k))
            z.writestr(f"{cls}/cifar10_{cls}_{i}.aedat", encode_aedat2(addr, np.arange(k) * 10))
    return buf.getvalue()


def checksums_file(tmp, files: dict[str, bytes], override: dict[str, str] | None = None):
    table = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    table.update(override or {})
    path = tmp / "checksums.json"
    path.write_text(json.dumps(table))
    return path
