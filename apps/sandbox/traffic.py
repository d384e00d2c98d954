"""Sending the simulated systems' events to the hub over HTTP, signed, at a steady rate.

`HubClient` is the wire: tracking-link clicks (`GET /t/<code>/`, token taken from the redirect)
and Standard Webhooks signed POSTs to `/api/v1/webhooks/<slug>/`, retried with backoff while
the hub is down or throttling. `run_traffic` is the loop behind `manage.py sandbox_run`: it
waits for the hub, sets up the integrations, plays `Simulator.step()` at `rate` events/s and
records every event (dropped ones included) until `stop` is set or its budget is spent. A
system told to be quiet (`manage.py sandbox_quiet`) has its events recorded but not delivered.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlsplit

import requests
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.sandbox import services
from apps.sandbox.simulator import Faults, Outgoing, Simulator
from apps.sandbox.world import DROP, DUPLICATE

logger = logging.getLogger(__name__)

TOKEN_PARAM = "ah_token"  # what /t/<code>/ appends to the landing URL
MAX_BACKOFF = 30.0
TIMEOUT = 10.0


class Stopped(Exception):
    """The loop was asked to stop while waiting."""


@dataclass
class HubClient:
    base_url: str
    secrets: dict[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    session: requests.Session = field(default_factory=requests.Session)
    max_server_retries: int = 5

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def pause(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Stopped

    def wait_until_up(self) -> None:
        """Poll /healthz with exponential backoff until the hub answers (or we are stopped)."""
        delay = 0.5
        while True:
            try:
                if self.session.get(self._url("/healthz"), timeout=TIMEOUT).status_code < 500:
                    return
            except requests.RequestException:
                pass
            logger.info("Hub at %s not up yet; retrying in %.1f s.", self.base_url, delay)
            self.pause(delay)
            delay = min(MAX_BACKOFF, delay * 2)

    def click(self, link_code: str) -> str | None:
        """Visit a tracking link as a browser would; the token the landing page receives."""
        response = self._request(
            "GET",
            f"/t/{link_code}/",
            allow_redirects=False,
            headers={"User-Agent": "Mozilla/5.0 (sandbox)"},
        )
        if response.status_code != 302:
            return None
        query = parse_qs(urlsplit(response.headers.get("Location", "")).query)
        return (query.get(TOKEN_PARAM) or [None])[0]

    def deliver(self, event: Outgoing) -> int:
        """POST one signed event; the final HTTP status. A 401 re-reads the secret once
        (rotation)."""
        body = event.body
        status = self._post_signed(event, body)
        if status == 401:
            self.secrets[event.slug] = services.sandbox_endpoint_refresh(slug=event.slug)
            status = self._post_signed(event, body)
        return status

    def _post_signed(self, event: Outgoing, body: bytes) -> int:
        def headers() -> dict[str, str]:
            # Each attempt carries its own timestamp and signature; the id stays the same.
            now = dt.datetime.now(dt.UTC)
            signature = Webhook(self.secrets[event.slug]).sign(event.webhook_id, now, body.decode())
            return {
                "Content-Type": "application/json",
                "webhook-id": event.webhook_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            }

        return self._request(
            "POST", f"/api/v1/webhooks/{event.slug}/", data=body, headers=headers
        ).status_code

    def _request(self, method: str, path: str, *, headers, **kwargs) -> requests.Response:
        """One request, retried while the hub is unreachable (forever), throttling (Retry-After)
        or failing with 5xx (a few times)."""
        delay, server_errors = 0.5, 0
        while True:
            try:
                response = self.session.request(
                    method,
                    self._url(path),
                    headers=headers() if callable(headers) else headers,
                    timeout=TIMEOUT,
                    **kwargs,
                )
            except requests.RequestException as exc:
                logger.warning(
                    "%s %s: %s; retrying in %.1f s.", method, path, exc.__class__.__name__, delay
                )
            else:
                if response.status_code == 429:
                    wait = _retry_after(response, delay)
                    logger.info("Throttled on %s; waiting %.1f s.", path, wait)
                    self.pause(wait)
                    continue
                if response.status_code < 500 or server_errors >= self.max_server_retries:
                    return response
                server_errors += 1
                logger.warning(
                    "%s %s answered %s; retrying in %.1f s.",
                    method,
                    path,
                    response.status_code,
                    delay,
                )
            self.pause(delay + random.uniform(0, delay / 2))
            delay = min(MAX_BACKOFF, delay * 2)


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return max(0.1, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default


@dataclass
class TrafficStats:
    events: int = 0
    deliveries: int = 0
    dropped: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.by_status.items()))
        return (
            f"{self.events} events, {self.deliveries} deliveries, {self.dropped} dropped "
            f"({statuses})"
        )


def run_traffic(
    *,
    base_url: str,
    rate: float = 5.0,
    stop: threading.Event | None = None,
    max_events: int | None = None,
    duration: float | None = None,
    seed: int | None = None,
    faults: Faults | None = None,
    report_every: float = 60.0,
) -> TrafficStats:
    """Play the simulated systems against the hub at `base_url` until stopped or done."""
    stop = stop or threading.Event()
    client = HubClient(base_url=base_url, secrets={}, stop=stop)
    stats = TrafficStats()
    try:
        client.wait_until_up()
        client.secrets.update(services.sandbox_endpoints_ensure())
        services.sandbox_velocity_rule_tune(rate=rate)
        rng = random.Random(seed)
        simulator = Simulator(
            rng=rng,
            clock=timezone.now,
            link_codes=services.clickable_link_codes(),
            click=client.click,
            players=services.known_players(),
            faults=faults,
            # A fresh tag per run: a restart with the same seed does not reuse ids.
            run_tag=f"{int(time.time() * 1000):x}",
        )
        logger.info(
            "Sandbox traffic to %s at %.1f events/s (%d links, %d known players).",
            base_url,
            rate,
            len(simulator.link_codes),
            len(simulator.players),
        )
        interval = 1.0 / rate if rate > 0 else 0.0
        started = next_report = time.monotonic()
        next_at = started
        while not stop.is_set():
            if max_events is not None and stats.events >= max_events:
                break
            if duration is not None and time.monotonic() - started >= duration:
                break
            results = []
            quiet = (
                services.quiet_slugs()
            )  # `manage.py sandbox_quiet`: withhold that system's webhooks
            try:
                for event in simulator.step():
                    next_at = max(next_at + interval, time.monotonic())
                    if event.slug in quiet:
                        event = replace(event, fate=DROP)
                    results.append(_play(client, event, stats))
                    client.pause(max(0.0, next_at - time.monotonic()))
            finally:
                # Even when stopped mid-step, what was delivered (or dropped) is on record.
                services.sent_events_record(results=results)
            if time.monotonic() >= next_report + report_every:
                next_report = time.monotonic()
                logger.info("Sandbox traffic: %s.", stats.summary())
    except Stopped:
        pass
    return stats


def _play(
    client: HubClient, event: Outgoing, stats: TrafficStats
) -> tuple[Outgoing, int, int | None]:
    stats.events += 1
    if event.fate == DROP:
        stats.dropped += 1
        return event, 0, None
    copies = 2 if event.fate == DUPLICATE else 1
    status = None
    for _ in range(copies):
        status = client.deliver(event)
        stats.deliveries += 1
        stats.by_status[status] = stats.by_status.get(status, 0) + 1
    return event, copies, status
