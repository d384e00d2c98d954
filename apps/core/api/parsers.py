"""The JSON parser of every DRF endpoint that takes a body (the registration API).

DRF's own JSONParser reads with Python's json, which recurses: a body nested ~1,000 levels deep
raised RecursionError (a 500). This one reads with orjson (not recursive; it refuses documents
deeper than 1,024 levels) and then refuses, with a 400 naming the field, whatever is out of
bounds (apps.core.bounded: nesting deeper than MAX_JSON_DEPTH, NUL characters) before a
serializer or a service sees it.
"""

from __future__ import annotations

import orjson
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from apps.core.bounded import json_violations


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        violations = json_violations(data)
        if violations:
            raise exceptions.ValidationError(violations)
        return data
