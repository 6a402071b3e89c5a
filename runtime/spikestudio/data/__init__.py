"""Dataset readers, one per format, behind a registry (`spikestudio.data.registry`).

`load_dataset(data_cfg, seed)` returns a `Dataset` of float tensors ready for training; readers raise
`errors.DataError` naming the file and what was expected.
"""

from spikestudio.data.registry import Dataset, available, load_dataset, register

__all__ = ["Dataset", "available", "load_dataset", "register"]
