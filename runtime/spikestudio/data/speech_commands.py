"""`speech-commands-v1` / `speech-commands-v2`: Google Speech Commands (Warden 2018), log-mel features.

data.root: the extracted archive: one folder per word of 16-bit PCM mono 16 kHz `.wav` files (read with the
`wave` module), `validation_list.txt` and `testing_list.txt` (paths relative to the root, e.g. `yes/abc_nohash_0.wav`).
Official split: files in testing_list -> test, in validation_list -> validation, the rest -> train;
`_background_noise_` is never a sample. data.eval_split: `test` (default) or `validation` is the eval set.

data.classes: `all` (default; v1: the 30 words, v2: the 35 words, sorted, label = index) or `12` (the
keyword-spotting setting: yes no up down left right on off stop go, then `_unknown_` = every other word (10) and
`_silence_` (11): ceil(n / 11) all-zero clips per split, n = that split's word samples).

Features (torch only): waveform padded / cut to 1 s (16,000 samples) -> torch.stft (n_fft data.n_fft = 480,
hop data.hop_length = 160, Hann window, centred) -> power -> HTK mel filterbank (data.n_mels = 40 triangles from
20 Hz to 8 kHz, built here) -> log(mel + 1e-6) -> (N, 1, n_mels, 101) float32, standardised with the training
set's mean/std.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

from spikestudio import config_schema
from spikestudio.data import download
from spikestudio.data.facts import dataset_facts
from spikestudio.data.registry import Dataset, register
from spikestudio.errors import ConfigError, DataError

V1_WORDS = list(dataset_facts("speech-commands-v1")["words"])  # sorted: the label order of data.classes all
V2_WORDS = list(dataset_facts("speech-commands-v2")["words"])
KEYWORDS = list(dataset_facts("speech-commands-v1")["keywords"])  # data.classes 12: these, _unknown_, _silence_
SAMPLE_RATE = dataset_facts("speech-commands-v1")["sample_rate"]
BACKGROUND = "_background_noise_"
HINT = {1: "With data.download: true (the default) it is downloaded into data.root; or download speech_commands_v0.01.tar.gz (http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz) "
           "and extract it; set data.root to that folder.",
        2: "With data.download: true (the default) it is downloaded into data.root; or download speech_commands_v0.02.tar.gz (http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz) "
           "and extract it; set data.root to that folder."}


def read_wav(path: Path) -> np.ndarray:
    """16-bit PCM mono 16 kHz -> float32 in [-1, 1)."""
    try:
        with wave.open(str(path), "rb") as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected a 16-bit PCM wav)") from None
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{path}: not a readable PCM wav ({exc}); expected 16-bit PCM mono {SAMPLE_RATE} Hz") from None
    if ch != 1 or width != 2 or rate != SAMPLE_RATE:
        raise DataError(f"{path}: {ch} channel(s), {8 * width}-bit, {rate} Hz; expected 16-bit PCM mono {SAMPLE_RATE} Hz")
    if len(raw) != n * 2:
        raise DataError(f"{path}: truncated wav: {len(raw)} data bytes, the header announces {n} frames ({2 * n} bytes)")
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int = SAMPLE_RATE, f_min: float = 20.0,
                   f_max: float | None = None):
    """(n_freqs, n_mels) HTK-mel triangular filters (no area normalisation), like torchaudio's melscale_fbanks."""
    import torch

    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)

    def hz2mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    m = torch.linspace(hz2mel(f_min), hz2mel(f_max), n_mels + 2, dtype=torch.float64)
    f_pts = 700.0 * (10 ** (m / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - freqs[:, None]  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0).float()


def log_mel(wavs, n_fft: int = 480, hop_length: int = 160, n_mels: int = 40):
    """(N, 16000) float -> (N, 1, n_mels, frames) log-mel."""
    import torch

    x = torch.as_tensor(wavs, dtype=torch.float32)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop_length, window=torch.hann_window(n_fft), center=True,
                      return_complex=True)
    power = spec.abs() ** 2  # (N, n_fft//2+1, frames)
    fb = mel_filterbank(n_fft // 2 + 1, n_mels)
    mel = torch.einsum("nft,fm->nmt", power, fb)
    return torch.log(mel + 1e-6).unsqueeze(1)


def fit(w: np.ndarray) -> np.ndarray:
    out = np.zeros(SAMPLE_RATE, dtype=np.float32)
    out[: min(len(w), SAMPLE_RATE)] = w[:SAMPLE_RATE]
    return out


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected the official split list of word/file.wav paths)")
    return {ln.strip().replace("\\", "/") for ln in path.read_text().splitlines() if ln.strip()}


def list_split(root: Path, version: int) -> dict[str, list[tuple[str, str]]]:
    """{"train"|"validation"|"test": [(relative path, word)]} in sorted path order."""
    val = _read_list(root / "validation_list.txt")
    test = _read_list(root / "testing_list.txt")
    words = V1_WORDS if version == 1 else V2_WORDS
    out: dict[str, list] = {"train": [], "validation": [], "test": []}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if d.name == BACKGROUND or d.name.startswith("."):
            continue
        if d.name not in words:
            raise DataError(f"{d}: word folder {d.name!r} is not one of the {len(words)} Speech Commands "
                            f"v{version} words", HINT[version])
        for f in sorted(d.glob("*.wav")):
            rel = f"{d.name}/{f.name}"
            split = "test" if rel in test else "validation" if rel in val else "train"
            out[split].append((rel, d.name))
    return out


def _final(version: int) -> str:
    return f"speech_commands_v0.0{version}"


def _present(r: Path, version: int) -> bool:
    """The extracted archive (or part of it) is at r or r/speech_commands_v0.0N: read it, never download over it."""
    return (r / _final(version)).exists() or (r.is_dir() and any(
        (r / n).exists() for n in ("testing_list.txt", "validation_list.txt", *V1_WORDS)))


def locate(root: Path, version: int) -> Path:
    """r, or the r/speech_commands_v0.0N folder a download extracts into."""
    return root / _final(version) if (root / _final(version)).is_dir() else root


def _reader(version: int):
    def read(data_cfg: dict) -> Dataset:
        import torch

        root = locate(download.ensure(f"speech-commands-v{version}", data_cfg, lambda r: _present(r, version)), version)
        if not root.is_dir():
            raise DataError(f"{root}: folder not found (expected the extracted Speech Commands v{version})", HINT[version])
        classes = str(data_cfg.get("classes") or config_schema.default("data.classes"))
        allowed = [str(c) for c in config_schema.choices("data.classes")]
        if classes not in allowed:
            raise ConfigError("data.classes", f"must be {' or '.join(map(repr, allowed))}, got {classes!r}")
        eval_split = data_cfg.get("eval_split") or config_schema.default("data.eval_split")
        if eval_split not in config_schema.choices("data.eval_split"):
            raise ConfigError("data.eval_split", f"must be {' or '.join(map(repr, config_schema.choices('data.eval_split')))}, "
                              f"got {eval_split!r}")
        kw = {}
        for key in ("n_mels", "n_fft", "hop_length"):
            v = data_cfg.get(key) or config_schema.default(f"data.{key}")
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"data.{key}", f"must be an integer >= 1, got {v!r}")
            kw[key] = v
        words = V1_WORDS if version == 1 else V2_WORDS
        names = words if classes == "all" else KEYWORDS + ["_unknown_", "_silence_"]
        index = {w: i for i, w in enumerate(names)}
        splits = list_split(root, version)

        def load(items):
            wavs = [fit(read_wav(root / rel)) for rel, _ in items]
            labels = [index.get(w, 10) for _, w in items]
            if classes == "12":
                n_sil = math.ceil(len(items) / 11)
                wavs += [np.zeros(SAMPLE_RATE, np.float32)] * n_sil
                labels += [11] * n_sil
            x = log_mel(np.stack(wavs), **kw) if wavs else torch.zeros(0, 1, kw["n_mels"], 1)
            return x, torch.tensor(labels, dtype=torch.int64)

        trx, try_ = load(splits["train"])
        evx, evy = load(splits[eval_split])
        mean, std = (trx.mean(), trx.std()) if trx.numel() > 1 else (torch.tensor(0.0), torch.tensor(1.0))
        std = std if float(std) > 0 else torch.tensor(1.0)
        trx, evx = (trx - mean) / std, (evx - mean) / std
        return Dataset(name=f"speech-commands-v{version}", train_x=trx.contiguous(), train_y=try_,
                       eval_x=evx.contiguous(), eval_y=evy, num_classes=len(names), in_channels=1,
                       img_size=[int(trx.shape[2]), int(trx.shape[3])], source=str(root))

    return read


register("speech-commands-v1")(_reader(1))
register("speech-commands-v2")(_reader(2))
