"""The polling room's helper threads, behind names (issue 14 §4).

A poll overlaps the source's latency with the database's work:

- `prefetching(fetch)`: fetches the next page in one helper thread while the current one is
  stored. The helper only does HTTP, never touches the database.
- `ReadingHelper(function)`: runs `function` in one helper thread on a database connection of
  its own, so a page's lookup runs while the previous page is stored. The helper only reads,
  outside any transaction; `close()` closes its connection and stops the thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from django.db import connection


@contextmanager
def prefetching(fetch: Callable, *, name: str = "poll-fetch") -> Iterator[Callable[..., Future]]:
    """A `submit(*args)` that runs `fetch(*args)` in the helper thread; joined on exit."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as executor:
        yield lambda *args: executor.submit(fetch, *args)


class ReadingHelper:
    def __init__(self, function: Callable, *, name: str):
        self.function = function
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, *args) -> Future:
        return self.executor.submit(self.function, *args)

    def close(self) -> None:
        # Looked up in the helper thread: `connection` is per thread, so this closes its own.
        self.executor.submit(lambda: connection.close()).result()
        self.executor.shutdown()
