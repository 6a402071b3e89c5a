"""Spike Studio runtime: spiking-transformer models, data readers, trainer and the JSON-lines protocol.

Importing the package is cheap and does not import torch (so `python -m spikestudio doctor` works without it).
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = ["__version__", "PROTOCOL_VERSION", "register_model", "mark_spiking", "is_spiking", "probe"]


def __getattr__(name: str):
    """The public model API, imported on first use (it imports torch):

    * ``spikestudio.register_model(name)`` -- the model registry's decorator (``model.plugins`` files use it);
    * ``spikestudio.mark_spiking(module, time_dim=None)`` / ``spikestudio.is_spiking(module)`` -- which modules the
      firing probes count;
    * ``spikestudio.probe.attention(module, maps, tokens=(H, W))`` -- attention maps for the panels.
    """
    if name == "register_model":
        from spikestudio.models.registry import register_model

        return register_model
    if name in ("mark_spiking", "is_spiking"):
        from spikestudio import probe

        return getattr(probe, name)
    if name == "probe":
        import importlib

        return importlib.import_module("spikestudio.probe")
    raise AttributeError(f"module 'spikestudio' has no attribute {name!r}")
