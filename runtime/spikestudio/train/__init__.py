"""The trainer: `python -m spikestudio train --config RESOLVED.json --run-dir DIR` (see `trainer.main`)."""
