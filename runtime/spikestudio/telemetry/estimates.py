"""The constants of the energy and training-memory estimates: estimates.json beside this file, read by the
TypeScript side (src/core/arch/index.ts) too."""

from __future__ import annotations

import json
from pathlib import Path

ESTIMATES_PATH = Path(__file__).resolve().parent / "estimates.json"
ESTIMATES: dict = json.loads(ESTIMATES_PATH.read_text(encoding="utf-8"))
