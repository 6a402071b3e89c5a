"""No test reaches the internet or the user's dataset cache: dataset downloads (spikestudio.data.download) go to a
port nobody listens on unless a test points SPIKE_STUDIO_DATASET_MIRROR at its own local server, and the shared
cache is a temp folder."""

import pytest


@pytest.fixture(autouse=True)
def _no_dataset_downloads(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("SPIKE_STUDIO_DATASET_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests")
    monkeypatch.setenv("SPIKE_STUDIO_DATASETS", str(tmp_path_factory.mktemp("dataset-cache")))
    monkeypatch.delenv("SPIKE_STUDIO_DATASET_CHECKSUMS", raising=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "emits_invalid_events: the test emits events that break the schema on purpose")


@pytest.fixture(autouse=True)
def _emitted_events_match_their_schema(request, monkeypatch):
    """Every event the code under test emits in this process is checked against its own type's schema (tests/
    event_schema.py); the test fails at teardown naming each bad event. Runs in subprocesses are checked where
    their output is read (test_train_run.parse_and_validate and the like)."""
    if request.node.get_closest_marker("emits_invalid_events"):
        yield
        return
    from event_schema import VALIDATOR
    from spikestudio.protocol import Emitter

    bad: list[str] = []
    emit = Emitter.emit

    def checked_emit(self, type, **fields):
        event = emit(self, type, **fields)
        bad.extend(f"{error.message}: {event}" for error in VALIDATOR.iter_errors(event))
        return event

    monkeypatch.setattr(Emitter, "emit", checked_emit)
    yield
    assert not bad, "emitted events that do not match their type's schema:\n" + "\n".join(bad[:10])
