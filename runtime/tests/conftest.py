"""No test reaches the internet or the user's dataset cache: dataset downloads (spikestudio.data.download) go to a
port nobody listens on unless a test points SPIKE_STUDIO_DATASET_MIRROR at its own local server, and the shared
cache is a temp folder."""

import pytest


@pytest.fixture(autouse=True)
def _no_dataset_downloads(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("SPIKE_STUDIO_DATASET_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests")
    monkeypatch.setenv("SPIKE_STUDIO_DATASETS", str(tmp_path_factory.mktemp("dataset-cache")))
    monkeypatch.delenv("SPIKE_STUDIO_DATASET_CHECKSUMS", raising=False)
