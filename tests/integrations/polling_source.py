"""A source system's poll API on a local port (http.server in a thread), for polling tests.

Serves WEBHOOKS.md §5 (`events`, `next_cursor`; as NDJSON lines when asked with `Accept:
application/x-ndjson`, each line as `lines` renders it) or an MT5 deals feed (`deals`, `next`),
pages by offset cursors, filters on the window, and can be told to fail: `fail_with` is a list of
(status, headers) answered before the next normal answers; `fail_page` fails one page forever.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class PollSource:
    def __init__(self, *, fmt: str = "generic"):
        self.fmt = fmt
        self.items: list[dict] = []  # generic: envelopes; mt5: deals
        self.fail_with: list[tuple[int, dict]] = []
        self.fail_page: int | None = None
        self.requests: list[dict] = []
        self.headers_seen: list[dict] = []
        # An NDJSON page's event lines (default: each item as compact JSON, its id first).
        self.lines = lambda page: [json.dumps(item, separators=(",", ":")) for item in page]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/poll/"

    def start(self) -> PollSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _timestamp(self, item) -> dt.datetime:
        if self.fmt == "mt5":
            return dt.datetime.fromtimestamp(item["Time"], tz=dt.UTC)
        return dt.datetime.fromisoformat(item["timestamp"])

    def answer(self, query: dict) -> tuple[int, dict, bytes]:
        self.requests.append(query)
        if self.fail_with:
            status, headers = self.fail_with.pop(0)
            return status, headers, b'{"error": "unavailable"}'
        cursor = int(query.get("cursor", "0"))
        limit = int(query["limit"])
        if self.fail_page is not None and cursor // limit == self.fail_page:
            return 503, {}, b'{"error": "page unavailable"}'
        if self.fmt == "mt5":
            since = dt.datetime.fromtimestamp(int(query["from"]), tz=dt.UTC)
            until = dt.datetime.fromtimestamp(int(query["to"]), tz=dt.UTC)
        else:
            since = dt.datetime.fromisoformat(query["since"])
            until = dt.datetime.fromisoformat(query["until"])
        types = set(query["type"].split(",")) if query.get("type") else None
        selected = [
            item
            for item in self.items
            if since <= self._timestamp(item) < until
            and (types is None or self.fmt == "mt5" or item.get("type") in types)
        ]
        page = selected[cursor : cursor + limit]
        following = str(cursor + limit) if cursor + limit < len(selected) else None
        if self.fmt == "mt5":
            body = {"server": "MT5-Live-01", "currency": "USD", "deals": page, "next": following}
        elif "application/x-ndjson" in self.headers_seen[-1].get("Accept", ""):
            lines = [*self.lines(page), json.dumps({"next_cursor": following})]
            return 200, {"Content-Type": "application/x-ndjson"}, "\n".join(lines).encode() + b"\n"
        else:
            body = {"events": page, "next_cursor": following}
        return 200, {}, json.dumps(body).encode()

    def _handler(self):
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = {
                    key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()
                }
                source.headers_seen.append(dict(self.headers))
                status, headers, body = source.answer(query)
                headers = {"Content-Type": "application/json", **headers}
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


def envelope(event_id: str, at: dt.datetime, *, player: str = "P-1", amount: str = "25.00") -> dict:
    return {
        "id": event_id,
        "type": "deposit.created",
        "timestamp": at.isoformat(),
        "data": {
            "deposit_id": f"dep-{event_id}",
            "player_id": player,
            "amount": amount,
            "currency": "EUR",
        },
    }
