"""Dataset download: fetch the public datasets from their publishers into data.root (`data.download: true`).

What is fetched (`SOURCES`, the publishers' URLs and checksums -- md5, as torchvision / torchaudio / SpikingJelly list
them): CIFAR-10 and CIFAR-100 (the "python version" tarballs, www.cs.toronto.edu/~kriz), Speech Commands v1/v2
(download.tensorflow.org) and CIFAR10-DVS (the ten class zips on figshare). DVS128 Gesture and ImageNet need a
licence click or a login: `ensure` raises a DataError saying where to get them and where to put them (`MANUAL`).

Where: data.root, or when it is null the shared cache `~/.cache/spike-studio/datasets/<dataset>` (`SPIKE_STUDIO_DATASETS`
moves the cache). Layout under the root:

  .downloads/<file>.part       the bytes so far; .part.json beside it holds the URL and the server's validator (ETag /
                               Last-Modified, length) so an interrupted download resumes with HTTP Range + If-Range
  .downloads/<file>            a complete archive whose checksum matched (deleted after extraction)
  .downloads/.lock             fcntl lock: a second run waits here, then finds the dataset ready and reuses it
  .extract-<final>-XXXX/       extraction in progress (a temp dir, removed on any failure)
  <final>/                     the extracted dataset (cifar-10-batches-py, speech_commands_v0.02, extract, ...),
                               renamed into place as the very last step -- the only thing a reader ever reads

So nothing a later run reads can be half-made: a part file is never an archive, an archive is kept only after its
checksum matched, and the dataset folder appears in one rename.

Mirror: `SPIKE_STUDIO_DATASET_MIRROR` (the extension passes `spikeStudio.datasetMirror`) replaces the publisher's base
URL: each file is fetched from `<mirror>/<file name>` (e.g. `<mirror>/cifar-10-python.tar.gz`, `<mirror>/airplane.zip`).
The checksums stay the publishers'. `SPIKE_STUDIO_DATASET_CHECKSUMS` names a JSON file `{file name: md5}` that
replaces them -- for tests, whose fixture archives are not the real ones, and for re-packed private mirrors.

Progress: `reporting(report, cancel)` installs a callback that receives `download` protocol events (stage wait,
download, verify, extract, frames, done, reused; bytes done / total, rate, ETA) and a cancel check (the run's stop
flag): a cancelled download raises `DownloadCancelled` and keeps its part file for the next run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from spikestudio.errors import DataError

MIRROR_ENV = "SPIKE_STUDIO_DATASET_MIRROR"
CHECKSUMS_ENV = "SPIKE_STUDIO_DATASET_CHECKSUMS"
CACHE_ENV = "SPIKE_STUDIO_DATASETS"
CHUNK = 1 << 20
TIMEOUT_S = 30.0
PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class Resource:
    file: str
    url: str
    md5: str


@dataclass(frozen=True)
class Source:
    resources: tuple[Resource, ...]
    final: str  # the folder under the root that extraction produces
    layout: str  # top: the archive holds final/; flat: its members go into final/; class: each zip = one class folder
    homepage: str


def _dvs(cls: str, num: int, md5: str) -> Resource:
    return Resource(f"{cls}.zip", f"https://ndownloader.figshare.com/files/{num}", md5)


SOURCES: dict[str, Source] = {
    "cifar10": Source((Resource("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                                "c58f30108f718f92721af3b95e74349a"),), "cifar-10-batches-py", "top",
                      "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "cifar100": Source((Resource("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                                 "eb9058c3a382ffc7106e4002c42a8d85"),), "cifar-100-python", "top",
                       "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "speech-commands-v1": Source((Resource("speech_commands_v0.01.tar.gz",
                                           "https://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
                                           "3cd23799cb2bbdec517f1cc028f8d43c"),), "speech_commands_v0.01", "flat",
                                 "https://arxiv.org/abs/1804.03209"),
    "speech-commands-v2": Source((Resource("speech_commands_v0.02.tar.gz",
                                           "https://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                                           "6b74f3901214cb2c2934e98196829835"),), "speech_commands_v0.02", "flat",
                                 "https://arxiv.org/abs/1804.03209"),
    "cifar10-dvs": Source((
        _dvs("airplane", 7712788, "0afd5c4bf9ae06af762a77b180354fdd"),
        _dvs("automobile", 7712791, "8438dfeba3bc970c94962d995b1b9bdd"),
        _dvs("bird", 7712794, "a9c207c91c55b9dc2002dc21c684d785"),
        _dvs("cat", 7712812, "52c63c677c2b15fa5146a8daf4d56687"),
        _dvs("deer", 7712815, "b6bf21f6c04d21ba4e23fc3e36c8a4a3"),
        _dvs("dog", 7712818, "f379ebdf6703d16e0a690782e62639c3"),
        _dvs("frog", 7712842, "cad6ed91214b1c7388a5f6ee56d08803"),
        _dvs("horse", 7712851, "e7cbbf77bec584ffbf913f00e682782a"),
        _dvs("ship", 7712836, "41c7bd7d6b251be82557c6cce9a7d5c9"),
        _dvs("truck", 7712839, "89f3922fd147d9aeff89e76a2b0b70a7"),
    ), "extract", "class", "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671"),
}

# datasets that cannot be fetched automatically: (where to get them, what to put where)
MANUAL: dict[str, tuple[str, str]] = {
    "dvs128-gesture": ("IBM's DVS128 Gesture page https://research.ibm.com/interactive/dvsgesture/ (DvsGesture.tar.gz, "
                       "after accepting the licence)",
                       "extract it so that {root}/DvsGesture/trials_to_train.txt exists (or set data.root to the "
                       "extracted DvsGesture folder)"),
    "imagenet": ("https://image-net.org/download.php (ILSVRC2012 train and val images; needs an ImageNet account)",
                 "put the class folders under {root}/train/<wnid>/ and {root}/val/<wnid>/ (or set data.root to the "
                 "folder holding train/ and val/)"),
}


class DownloadError(DataError):
    """A dataset could not be fetched (network, server, disk); the message names the URL or file."""

    kind = "download"


class DownloadCancelled(Exception):
    """The run was stopped while downloading; the part file stays for the next run."""


# ---------------------------------------------------------------------------------------------- progress / cancel
_report: Callable[..., None] | None = None
_cancel: Callable[[], bool] | None = None


@contextlib.contextmanager
def reporting(report: Callable[..., None] | None, cancel: Callable[[], bool] | None = None):
    """Within the block, progress goes to `report(**download_event_fields)` and `cancel()` is polled per chunk."""
    global _report, _cancel
    saved = _report, _cancel
    _report, _cancel = report, cancel
    try:
        yield
    finally:
        _report, _cancel = saved


def report(**fields) -> None:
    if _report is not None:
        _report(**fields)


def cancelled() -> bool:
    return bool(_cancel and _cancel())


class Progress:
    """Throttled `download` events with rate and ETA for one file (bytes) or one frame-cache build (samples)."""

    def __init__(self, dataset: str, stage: str, file: str, total: int | None, unit: str = "bytes",
                 url: str | None = None, start: int = 0):
        self.fields = {"dataset": dataset, "stage": stage, "file": file, "unit": unit}
        if url is not None:
            self.fields["url"] = url
        self.total, self.start, self.done = total, start, start
        self.t0 = self.last = time.monotonic()
        extra = {"resumed_from": start} if start else {}
        report(**self.fields, done=start, total=total, rate=None, eta_s=None, **extra)

    def update(self, done: int, force: bool = False) -> None:
        self.done = done
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        elapsed = max(now - self.t0, 1e-6)
        rate = (done - self.start) / elapsed
        eta = (self.total - done) / rate if self.total is not None and rate > 0 else None
        report(**self.fields, done=done, total=self.total, rate=round(rate, 1),
               eta_s=None if eta is None else round(max(eta, 0.0), 1))


def frame_progress(dataset: str, file: str, total: int) -> Progress:
    """Progress of a frame-cache build (event datasets): one `download` event per PROGRESS_EVERY_S, stage frames."""
    return Progress(dataset, "frames", file, total, unit="samples")


# ---------------------------------------------------------------------------------------------- roots
def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spike-studio" / "datasets"


def resolve_root(dataset: str, data_cfg: dict) -> Path:
    root = data_cfg.get("root")
    return Path(root).expanduser() if root else cache_root() / dataset


def downloadable(dataset: str) -> bool:
    return dataset in SOURCES


def manual_error(dataset: str, root: Path) -> DataError:
    where, put = MANUAL[dataset]
    return DataError(f"{dataset} cannot be downloaded automatically: {root} does not hold it",
                     f"Get it from {where}; {put.format(root=root)}.")


def ensure(dataset: str, data_cfg: dict, ready: Callable[[Path], bool]) -> Path:
    """The dataset's root, downloaded and extracted first when `ready(root)` is false and data.download allows it.
    Readers call this and then read the root as before (their own errors cover data.download: false)."""
    root = resolve_root(dataset, data_cfg)
    if ready(root):
        return root
    if dataset in MANUAL:
        raise manual_error(dataset, root)
    if dataset not in SOURCES or data_cfg.get("download", True) is False:
        return root
    src = SOURCES[dataset]
    downloads = _writable(root / ".downloads", root)
    with _lock(downloads / ".lock", dataset):
        if ready(root):  # another run finished it while this one waited
            report(dataset=dataset, stage="reused", file=src.final)
            return root
        target = root / src.final
        if target.exists():
            raise DataError(f"{target} exists but is not a complete {dataset} (another copy, or files were removed)",
                            f"delete {target} to download it anew, or set data.root to a folder holding the "
                            "complete dataset")
        archives = [fetch(dataset, r, downloads) for r in src.resources]
        extract(dataset, src, archives, root)
        for a in archives:
            with contextlib.suppress(OSError):
                a.unlink()
        report(dataset=dataset, stage="done", file=src.final)
    if not ready(root):
        raise DataError(f"{root / src.final}: extracted, but it does not hold the expected {dataset} files",
                        f"the archive from {src.resources[0].url} is not the expected one; delete {root / src.final}")
    return root


# ---------------------------------------------------------------------------------------------- download
def _writable(folder: Path, root: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DownloadError(f"data.root {root} is not writable ({exc.strerror or exc}): cannot download into it",
                            f"set data.root to a writable folder, or leave it empty to use the shared cache "
                            f"{cache_root()}") from None
    return folder


@contextlib.contextmanager
def _lock(path: Path, dataset: str):
    import fcntl

    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report(dataset=dataset, stage="wait", file=str(path.parent.parent))
            while True:  # another run downloads the same dataset: wait for it (a stop still stops)
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if cancelled():
                        raise DownloadCancelled() from None
                    time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def expected_md5(res: Resource) -> str:
    """The publisher's md5, or the one a SPIKE_STUDIO_DATASET_CHECKSUMS file gives for this file name."""
    table = os.environ.get(CHECKSUMS_ENV)
    if table:
        try:
            override = json.loads(Path(table).read_text())
        except (OSError, ValueError) as exc:
            raise DownloadError(f"{CHECKSUMS_ENV}={table}: not a readable JSON object of file name -> md5 ({exc})",
                                f"fix or unset {CHECKSUMS_ENV}") from None
        if isinstance(override, dict) and res.file in override:
            return str(override[res.file]).lower()
    return res.md5


def url_of(res: Resource) -> str:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{urllib.parse.quote(res.file)}" if mirror else res.url


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _network_error(url: str, res: Resource, downloads: Path, exc: BaseException) -> DownloadError:
    host = urllib.parse.urlsplit(url).netloc
    by_hand = f"or download {url} by hand into {downloads / res.file}"
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 407:
            return DownloadError(f"{url}: the proxy refused the request (HTTP 407 Proxy Authentication Required)",
                                 f"set the proxy's credentials in https_proxy / http_proxy, {by_hand}")
        where = (f"the mirror {mirror} ({MIRROR_ENV} / spikeStudio.datasetMirror) does not serve {res.file}"
                 if mirror else f"the publisher's server answered {exc.code}")
        fix = (f"put {res.file} on the mirror or clear the mirror setting, {by_hand}" if mirror else
               f"set spikeStudio.datasetMirror ({MIRROR_ENV}) to a copy, {by_hand}")
        return DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; {where}", fix)
    reason = getattr(exc, "reason", exc)
    proxies = urllib.request.getproxies()
    scheme = urllib.parse.urlsplit(url).scheme
    proxy = proxies.get(scheme) if not urllib.request.proxy_bypass(host.split(":")[0]) else None
    if proxy:
        return DownloadError(f"{url}: the proxy {proxy} refused or failed ({reason})",
                             f"check the {scheme}_proxy setting, set spikeStudio.datasetMirror ({MIRROR_ENV}) to a "
                             f"reachable copy, {by_hand}")
    return DownloadError(f"{url}: cannot reach {host} ({reason})",
                         f"check the network connection (or https_proxy), set spikeStudio.datasetMirror "
                         f"({MIRROR_ENV}) to a reachable copy, {by_hand}")


def _disk_full(path: Path, exc: OSError, what: str, hint_tail: str) -> DownloadError:
    return DownloadError(f"{path}: {what}: {exc.strerror or exc}",
                         f"free disk space on {path.parent} or set data.root to a folder on a larger disk; {hint_tail}")


def fetch(dataset: str, res: Resource, downloads: Path) -> Path:
    """One archive, resumed from its part file, verified against its md5; returns the complete archive's path."""
    final = downloads / res.file
    want = expected_md5(res)
    url = url_of(res)
    if final.is_file():
        if md5_of(final) == want:  # verified earlier (an interrupted extraction), or put there by hand
            return final
        final.unlink()
    part = downloads / (res.file + ".part")
    meta_file = downloads / (res.file + ".part.json")
    meta = {}
    if part.is_file() and meta_file.is_file():
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(meta_file.read_text())
    if meta.get("url") != url:  # another source: its bytes are not a prefix of this one
        meta = {}
        for f in (part, meta_file):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
    for attempt in range(2):
        start = part.stat().st_size if part.is_file() else 0
        req = urllib.request.Request(url, headers={"User-Agent": "spike-studio"})
        if start:
            req.add_header("Range", f"bytes={start}-")
            validator = meta.get("etag") or meta.get("last_modified")
            if validator:
                req.add_header("If-Range", validator)
        try:
            # a fresh opener: the proxy environment (https_proxy, no_proxy) as it is now, not at the first call
            resp = urllib.request.build_opener().open(req, timeout=TIMEOUT_S)  # noqa: S310 - SOURCES or the mirror
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start and attempt == 0:  # the part is not a prefix any more: start over
                part.unlink()
                continue
            raise _network_error(url, res, downloads, exc) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _network_error(url, res, downloads, exc) from None
        with resp:
            if start and resp.status != 206:  # the server ignored Range or the file changed (If-Range): from 0
                start = 0
            length = resp.headers.get("Content-Length")
            total = (start + int(length)) if length and length.isdigit() else None
            meta = {"url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"),
                    "total": total}
            try:
                meta_file.write_text(json.dumps(meta))
                out = open(part, "ab" if start else "wb")
            except OSError as exc:
                raise _disk_full(part, exc, "cannot write the download", "then run again") from None
            prog = Progress(dataset, "download", res.file, total, url=url, start=start)
            done = start
            with out:
                while True:
                    if cancelled():
                        raise DownloadCancelled()
                    try:
                        chunk = resp.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
                        out.flush()
                        raise DownloadError(f"{url}: the download was interrupted after {_mb(done)}"
                                            + (f" of {_mb(total)}" if total else "") + f" ({exc})",
                                            f"run again: it resumes from {part}") from None
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                            raise _disk_full(part, exc, f"disk full after {_mb(done)} of {res.file}",
                                             f"the download resumes from {part}") from None
                        raise
                    done += len(chunk)
                    prog.update(done)
                prog.update(done, force=True)
        if total is not None and done < total:
            raise DownloadError(f"{url}: the server closed the connection after {_mb(done)} of {_mb(total)}",
                                f"run again: it resumes from {part}")
        break
    report(dataset=dataset, stage="verify", file=res.file)
    got = md5_of(part)
    if got != want:
        for f in (part, meta_file):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        raise DownloadError(f"{url}: checksum mismatch for {res.file}: md5 {got}, expected {want} (file deleted)",
                            "run again to download it anew; if it fails again the server (or mirror) serves a "
                            "different or corrupt file")
    os.replace(part, final)
    with contextlib.suppress(FileNotFoundError):
        meta_file.unlink()
    return final


# ---------------------------------------------------------------------------------------------- extraction
def _unpack(archive: Path, dest: Path) -> None:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                p = Path(name)
                if p.is_absolute() or ".." in p.parts:
                    raise DataError(f"{archive}: unsafe member path {name!r}")
            z.extractall(dest)
    else:
        with tarfile.open(archive, "r:*") as t:
            t.extractall(dest, filter="data")


def extract(dataset: str, src: Source, archives: list[Path], root: Path) -> None:
    """Unpack into a temp dir under root, arrange src.final there, rename it into place (the last step)."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".extract-{src.final}-", dir=root))
    except OSError as exc:
        raise DownloadError(f"{root}: cannot create the extraction folder ({exc.strerror or exc})",
                            "set data.root to a writable folder") from None
    try:
        made = tmp / src.final
        for i, archive in enumerate(archives):
            report(dataset=dataset, stage="extract", file=archive.name, done=i, total=len(archives), unit="files")
            stage = tmp / f".part{i}" if src.layout == "class" else made if src.layout == "flat" else tmp
            stage.mkdir(parents=True, exist_ok=True)
            try:
                _unpack(archive, stage)
            except (tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as exc:
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()
                raise DownloadError(f"{archive}: corrupt or truncated archive ({type(exc).__name__}: {exc}); deleted",
                                    "run again to download it anew") from None
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise _disk_full(root, exc, f"disk full while extracting {archive.name}",
                                     "the verified archive is kept; run again") from None
                raise DownloadError(f"{root}: cannot extract {archive.name} there ({exc.strerror or exc})",
                                    "set data.root to a writable folder with enough space") from None
            except Exception as exc:  # noqa: BLE001 - zlib.error (a corrupt deflate stream) and friends
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()
                raise DownloadError(f"{archive}: corrupt archive ({type(exc).__name__}: {exc}); deleted",
                                    "run again to download it anew") from None
            if src.layout == "class":  # one class per zip: its single folder, or its files, become made/<class>
                cls = archive.name[: -len(".zip")]
                entries = [e for e in stage.iterdir() if not e.name.startswith(("__MACOSX", "."))]
                inner = entries[0] if len(entries) == 1 and entries[0].is_dir() else stage
                made.mkdir(exist_ok=True)
                os.replace(inner, made / cls)
                shutil.rmtree(stage, ignore_errors=True)
        if not made.is_dir():
            for a in archives:
                with contextlib.suppress(FileNotFoundError):
                    a.unlink()
            raise DownloadError(f"{archives[0]}: the archive does not contain {src.final}/ (not the expected "
                                f"{dataset} archive); deleted", "run again, or check the mirror's file")
        os.replace(made, root / src.final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
