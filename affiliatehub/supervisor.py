"""The `make run` supervisor's state file: which processes run, and how often each restarted.

The runner (affiliatehub/runner.py) writes it; the integration-health page reads it, so a
restart that kept the demo alive is still visible afterwards. Deployments run their processes
under their own supervisor (systemd, Kubernetes) and have no such file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from affiliatehub.embedded import DATA_DIR

STATE_FILE = DATA_DIR / "run" / "supervisor.json"


@dataclass
class ChildState:
    """One supervised process: its current pid, restarts so far and the last unexpected exit."""

    name: str
    pid: int | None = None
    started_at: str | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_at: str | None = None


@dataclass
class SupervisorState:
    runner_pid: int
    started_at: str
    children: dict[str, ChildState] = field(default_factory=dict)

    @property
    def restarts(self) -> int:
        return sum(child.restarts for child in self.children.values())

    def write(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)  # readers never see half a file


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_state(path: Path = STATE_FILE) -> SupervisorState | None:
    """The state `make run` wrote, or None when this process was not started by it."""
    try:
        raw = json.loads(path.read_text())
        children = {name: ChildState(**child) for name, child in raw.get("children", {}).items()}
        return SupervisorState(
            runner_pid=raw["runner_pid"], started_at=raw["started_at"], children=children
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
