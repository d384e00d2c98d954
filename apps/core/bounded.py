"""Bounded JSON input: how deep a document may nest and which characters it may hold.

Every JSON entry point (webhooks, batch items, polled items, registrations) refuses, before
anything is stored or queued:

- nesting deeper than MAX_JSON_DEPTH containers (the top-level object counts as one): deeper
  documents parse, but later recursive code (Python's json, DRF, the admin, the worker) raises
  RecursionError on them;
- NUL characters (U+0000) in any key or string: PostgreSQL cannot store them in text or jsonb.

Both walks here are iterative (an explicit stack), so they are safe on any depth a parser let
through. `json_clipped` gives a storable copy of a refused document (deep parts replaced by a
marker, NULs by U+FFFD), for the entry points that keep what they refuse.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import models

# Documented in README (webhook section) and the OpenAPI description: 32 levels of objects and
# arrays, counting the top-level body; a canonical envelope needs 3 (body, data, identifiers).
MAX_JSON_DEPTH = 32
NUL = "\x00"
CLIPPED_MARKER = f"(nested deeper than {MAX_JSON_DEPTH} levels; not kept)"
_MAX_ERRORS = 20
_MAX_PATH_CHARS = 300

DEPTH_MESSAGE = f"Nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays."
NUL_MESSAGE = "Contains a NUL character (\\u0000), which cannot be stored."
NUL_KEY_MESSAGE = "A key contains a NUL character (\\u0000), which cannot be stored."


def _path(prefix: str, key: Any) -> str:
    text = f"{prefix}.{key}" if prefix else str(key)
    return text[:_MAX_PATH_CHARS]


def _visible(key: str) -> str:
    return key.replace(NUL, "\\u0000")


def _within_bounds(value: Any, max_depth: int) -> bool:
    """The cheap check every accepted document pays (no paths built): only containers are
    stacked, strings are searched for a NUL where they lie."""
    if isinstance(value, str):
        return NUL not in value
    if not isinstance(value, dict | list):
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            return False
        if isinstance(node, dict):
            for key, child in node.items():
                if NUL in str(key):
                    return False
                if isinstance(child, str):
                    if NUL in child:
                        return False
                elif isinstance(child, dict | list):
                    push((child, depth + 1))
        else:
            for child in node:
                if isinstance(child, str):
                    if NUL in child:
                        return False
                elif isinstance(child, dict | list):
                    push((child, depth + 1))
    return True


def json_violations(
    value: Any, *, prefix: str = "", max_depth: int = MAX_JSON_DEPTH
) -> dict[str, list[str]]:
    """{"data.a.b": [message]} for every place `value` nests too deep or holds a NUL (at most
    20 places); {} when it is within bounds. Iterative: safe on any depth."""
    if _within_bounds(value, max_depth):
        return {}
    errors: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(value, prefix, 1)]
    while stack and len(errors) < _MAX_ERRORS:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                errors.setdefault(path or "non_field_errors", []).append(DEPTH_MESSAGE)
                continue
            for key, child in node.items():
                key = str(key)
                if NUL in key:
                    errors.setdefault(_path(path, _visible(key)), []).append(NUL_KEY_MESSAGE)
                    continue
                stack.append((child, _path(path, key), depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                errors.setdefault(path or "non_field_errors", []).append(DEPTH_MESSAGE)
                continue
            stack.extend((child, _path(path, index), depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str) and NUL in node:
            errors.setdefault(path or "non_field_errors", []).append(NUL_MESSAGE)
    return errors


def json_clipped(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A copy of `value` that json_violations accepts: containers deeper than `max_depth` become
    CLIPPED_MARKER, NULs in keys and strings become U+FFFD. Iterative: safe on any depth."""

    def leaf(node: Any) -> Any:
        return node.replace(NUL, "\ufffd") if isinstance(node, str) else node

    if not isinstance(value, dict | list):
        return leaf(value)
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)]
    while stack:
        source, target, depth = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in items:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    copy: Any = CLIPPED_MARKER
                else:
                    copy = {} if isinstance(child, dict) else []
                    stack.append((child, copy, depth + 1))
            else:
                copy = leaf(child)
            if isinstance(target, dict):
                target[leaf(str(key))] = copy
            else:
                target.append(copy)
    return root


def text_violations(values: dict[str, Any]) -> dict[str, list[str]]:
    """{name: [message]} for the plain parameters (query strings, form fields) holding a NUL."""
    return {
        _visible(str(name))[:_MAX_PATH_CHARS]: [NUL_MESSAGE]
        for name, value in values.items()
        if NUL in str(name) or (isinstance(value, str) and NUL in value)
    }


# ---------------------------------------------------------------------------------------------
# Reading and showing what is already stored


def json_preview(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`value` itself when it is within bounds, else its clipped copy: what the admin and the
    read API show, so that a stored document of any depth renders (recursive encoders fail
    on deep ones)."""
    if isinstance(value, dict | list) and json_violations(value, max_depth=max_depth):
        return json_clipped(value, max_depth=max_depth)
    return value


UNREADABLE_KEY = "_unreadable"


class BoundedJSONField(models.JSONField):
    """A JSONField whose reads cannot raise RecursionError.

    Django decodes jsonb with Python's json, which recurses: a stored document ~1,000 levels
    deep raised RecursionError wherever the row was loaded (admin list and detail, the read
    API, the worker before its error handling). This decodes with orjson (not recursive, up to
    1,024 levels, and faster), falls back to json for what orjson refuses (integers beyond 64
    bits), and reads a document deeper than both as {"_unreadable": reason}.

    Storage and queries are JSONField's own; `deconstruct` names the plain JSONField, so the
    migration state (and the schema) is unchanged: only reading differs.
    """

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass  # deeper than 1,024 levels, or a number orjson does not hold: json below
        try:
            return super().from_db_value(value, expression, connection)
        except RecursionError:
            return {
                UNREADABLE_KEY: f"Stored JSON nested too deeply to read ({len(value)} characters)."
            }

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
