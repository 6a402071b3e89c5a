"""Validates runtime events against their own type's schema (events.schema.json `definitions[type]`) plus the envelope,
closed: a field the schema does not declare for that type is an error too, so what the runtime emits can never drift
from the schema (and from the TypeScript and Python tables generated from it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import jsonschema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "spikestudio" / "schemas" / "events.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())


def _closed(node: Any) -> Any:
    """A copy of a schema in which every object that lists its properties allows no others."""
    if isinstance(node, list):
        return [_closed(n) for n in node]
    if not isinstance(node, dict):
        return node
    copy = {k: ({name: _closed(p) for name, p in v.items()} if k == "properties" else _closed(v)) for k, v in node.items()}
    if "properties" in copy and "additionalProperties" not in copy:
        copy["additionalProperties"] = False
    return copy


def _type_schema(definition: dict) -> dict:
    return _closed({**definition, "properties": {**SCHEMA["properties"], **definition.get("properties", {})},
                    "required": list(dict.fromkeys(SCHEMA["required"] + definition.get("required", [])))})


class EventValidator:
    """`validate` / `iter_errors` like jsonschema's Draft7Validator, against the event's own type's closed schema."""

    def __init__(self) -> None:
        self._by_type = {t: jsonschema.Draft7Validator(_type_schema(d)) for t, d in SCHEMA["definitions"].items()}

    def iter_errors(self, event: Any) -> Iterator[jsonschema.ValidationError]:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind not in self._by_type:
            yield jsonschema.ValidationError(f"unknown event type {kind!r}", instance=event)
            return
        for error in self._by_type[kind].iter_errors(event):
            error.message = f"{kind} event: {error.message}"
            yield error

    def validate(self, event: Any) -> None:
        error = jsonschema.exceptions.best_match(self.iter_errors(event))
        if error is not None:
            raise error


VALIDATOR = EventValidator()


def validate_event(event: Any) -> None:
    """Raise jsonschema.ValidationError (naming the event's type) unless `event` is valid for its own type."""
    VALIDATOR.validate(event)
