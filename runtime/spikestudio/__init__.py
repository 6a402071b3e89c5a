"""Spike Studio runtime: spiking-transformer models, data readers, trainer and the JSON-lines protocol.

Importing the package is cheap and does not import torch (so `python -m spikestudio doctor` works without it).
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = ["__version__", "PROTOCOL_VERSION"]
