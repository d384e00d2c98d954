"""The park lock: parking an event and unparking its identifier take turns.

The race it closes (found with three workers in tests/topology): worker A's handler looks up
player X and misses, because worker B's registration of X has not committed yet; B inserts the
mapping and its unpark finds nothing parked (A has not recorded its park); B commits; A then
commits the event as `parked`, and it would wait for the periodic recheck.

Both sides take one transaction-level advisory lock per identifier (system, external_id):

- the park (`process._mark_parked`), in the transaction that records the park, and then asks
  the handler's `ParkEvent.known_now()` again (a new statement: READ COMMITTED sees every
  commit before it). Known now: the event is run again instead of parked;
- the unpark (`replay.inbound_events_unpark`), in the transaction that creates the mapping,
  before it selects the parked events.

Whichever takes the lock first, the other sees its commit: a park that came first is found by
the unpark's SELECT (run after the park committed and released the lock); an unpark that came
first holds the lock until its mapping commits, and the park's re-check then finds the mapping.

The lock lives until its transaction ends, so it is taken in the transaction that writes the
park, never in the handlers' one: a ParkEvent rolls that back, and a rollback (of the
transaction or of a savepoint taken before the lock) releases the lock with it. Different
identifiers that share a key (32-bit hash) only wait for each other a moment; nothing is
skipped.
"""

from __future__ import annotations

import hashlib

from apps.core.db import advisory_xact_lock

# Namespace of the park lock among the hub's advisory locks (the key is the identifier's hash).
_PARK_LOCK_CLASS = 0x7061726B  # "park"


def _identifier_key(system: str, external_id: str) -> int:
    """A stable signed 32-bit key for (system, external_id): the same in every process."""
    text = f"{system}\x1f{external_id}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "big", signed=True)


def park_lock(*, system: str, external_id: str) -> None:
    """Take the park lock of (system, external_id) until this transaction ends; waits for it."""
    advisory_xact_lock(_PARK_LOCK_CLASS, _identifier_key(system, str(external_id)))
