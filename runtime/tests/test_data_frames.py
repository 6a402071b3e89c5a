"""Frame integration by number / by time (spec §1.4) and the frame cache."""

import numpy as np
import pytest

from spikestudio.data.frames import FrameCache, integrate
from spikestudio.errors import DataError


def ev(t, x, y, p):
    return {"t": np.array(t), "x": np.array(x), "y": np.array(y), "p": np.array(p)}


def test_by_number_last_frame_extends():
    # N = 7, T = 3: di = 2 -> [0,2), [2,4), [4,7)
    e = ev(range(7), [0, 1, 0, 1, 0, 1, 1], [0, 0, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0, 1])
    f = integrate(e, 3, 2, 2, "number")
    assert f.shape == (3, 2, 2, 2) and f.dtype == np.float32
    expect = np.zeros((3, 2, 2, 2), np.float32)
    for j, (a, b) in enumerate([(0, 2), (2, 4), (4, 7)]):
        for i in range(a, b):
            expect[j, e["p"][i], e["y"][i], e["x"][i]] += 1
    assert np.array_equal(f, expect) and f.sum() == 7 and f[2, 0, 0, 1] == 1 and f[2, 0, 0, 0] == 1


def test_by_time_windows_and_empty_window_error():
    # t_first 0, t_last 10, T = 3 -> dt = 3: [0,3), [3,6), [6, end]
    e = ev([0, 2, 3, 5, 6, 10], [0] * 6, [0] * 6, [0, 1, 0, 1, 0, 1])
    f = integrate(e, 3, 1, 1, "time")
    assert f[:, :, 0, 0].tolist() == [[1, 1], [1, 1], [1, 1]]
    with pytest.raises(DataError) as info:
        integrate(ev([0, 1, 10], [0] * 3, [0] * 3, [0] * 3), 3, 1, 1, "time", name="user07 sample 3")
    assert "user07 sample 3" in info.value.message and "empty time window 1" in info.value.message


def test_events_outside_the_sensor_are_an_error():
    with pytest.raises(DataError, match="outside the 2x2 sensor"):
        integrate(ev([0], [5], [0], [0]), 1, 2, 2, name="s")


def test_cache_marker_and_rebuild(tmp_path):
    c = FrameCache(tmp_path, 2, "number", 4, 4)
    assert c.dir.name == "frames_number_2_split_by_number_4x4" and not c.complete
    calls = []

    def make():
        calls.append(1)
        for i in range(3):
            yield ("train" if i < 2 else "test"), i, np.full((2, 2, 4, 4), i, np.float32)

    got = c.load_or_build(make)
    assert c.complete and got["train"][1].tolist() == [0, 1] and got["test"][0][0].max() == 2
    c.load_or_build(make)
    assert len(calls) == 1  # reused
    assert not list(c.dir.glob("*.tmp*"))
    (c.dir / ".complete").unlink()  # as if interrupted before the marker
    c.load_or_build(make)
    assert len(calls) == 2 and c.complete
    assert FrameCache(tmp_path, 16, "time", 128, 128).dir.name == "frames_number_16_split_by_time"
