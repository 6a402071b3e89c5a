"""Google Speech Commands v1/v2: wav reading, official splits, 12-class setting, torch-only log-mel."""

import math
import wave

import numpy as np
import pytest
import torch

from spikestudio.data import load_dataset
from spikestudio.data.speech_commands import V1_WORDS, V2_WORDS, log_mel, mel_filterbank, read_wav
from spikestudio.errors import DataError


def wav(path, samples, rate=16000, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())


def make(root, words=("yes", "no", "bed")):
    r = np.random.default_rng(0)
    for wd in words + ("_background_noise_",):
        (root / wd).mkdir()
        for i in range(3):
            wav(root / wd / f"s{i}_nohash_0.wav", r.integers(-3000, 3000, 16000 - 100 * i))
    (root / "validation_list.txt").write_text("yes/s1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/s2_nohash_0.wav\nno/s2_nohash_0.wav\nbed/s2_nohash_0.wav\n")


def test_word_lists():
    assert len(V1_WORDS) == 30 and len(V2_WORDS) == 35 and set(V1_WORDS) < set(V2_WORDS)


def test_read_wav_exact_and_errors(tmp_path):
    wav(tmp_path / "a.wav", [0, 16384, -32768, 32767])
    assert read_wav(tmp_path / "a.wav").tolist() == [0.0, 0.5, -1.0, 32767 / 32768]
    wav(tmp_path / "b.wav", [0, 1], rate=8000)
    with pytest.raises(DataError, match=r"b\.wav.*8000 Hz"):
        read_wav(tmp_path / "b.wav")
    raw = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "c.wav").write_bytes(raw[:-3])
    with pytest.raises(DataError, match=r"c\.wav"):
        read_wav(tmp_path / "c.wav")


def test_mel_filterbank_and_log_mel():
    fb = mel_filterbank(241, 40)
    assert fb.shape == (241, 40) and fb.min() >= 0 and fb.max() <= 1 + 1e-6
    assert (fb.sum(0) > 0).all()
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * math.pi * 1000 * t)[None]
    f = log_mel(tone)
    assert f.shape == (1, 1, 40, 101)
    centre = f[0, 0, :, 50]
    peak = int(centre.argmax())
    mel = 2595 * np.log10(1 + 1000 / 700)
    pts = np.linspace(2595 * np.log10(1 + 20 / 700), 2595 * np.log10(1 + 8000 / 700), 42)
    assert abs(pts[peak + 1] - mel) <= (pts[1] - pts[0])


def test_splits_all_words_and_12_classes(tmp_path):
    make(tmp_path)
    ds = load_dataset({"dataset": "speech-commands-v2", "root": str(tmp_path), "n_mels": 16})
    assert ds.num_classes == 35 and (ds.train_size, ds.eval_size) == (5, 3)  # yes: 1 train, 1 val, 1 test
    assert ds.train_x.shape == (5, 1, 16, 101) and ds.img_size == [16, 101]
    names = V2_WORDS
    assert ds.train_y.tolist() == [names.index("bed")] * 2 + [names.index("no")] * 2 + [names.index("yes")]
    val = load_dataset({"dataset": "speech-commands-v1", "root": str(tmp_path), "eval_split": "validation", "n_mels": 16})
    assert val.eval_y.tolist() == [V1_WORDS.index("yes")]
    k = load_dataset({"dataset": "speech-commands-v1", "root": str(tmp_path), "classes": "12", "n_mels": 16})
    assert k.num_classes == 12
    assert k.train_y.tolist() == [10, 10, 1, 1, 0, 11]  # bed -> unknown; ceil(5/11) = 1 silence clip
    assert k.eval_y.tolist() == [10, 1, 0, 11]


def test_unknown_word_folder_and_missing_list(tmp_path):
    make(tmp_path, words=("yes", "learn"))
    with pytest.raises(DataError, match="learn.*not one of the 30"):
        load_dataset({"dataset": "speech-commands-v1", "root": str(tmp_path)})
    (tmp_path / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="testing_list.txt: file not found"):
        load_dataset({"dataset": "speech-commands-v2", "root": str(tmp_path)})
