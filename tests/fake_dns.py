"""Name resolution the test decides, for the outbound address policy tests.

`dns = FakeDns.install(monkeypatch)`, then `dns.answer("evil.example", ["127.0.0.1"])`; several
lists give one answer per lookup (the last repeats). Other names and IP literals resolve for real.
`dns.lookups` lists the names looked up, in order.
"""

from __future__ import annotations

import socket


class FakeDns:
    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo

    @classmethod
    def install(cls, monkeypatch) -> FakeDns:
        dns = cls()
        monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
        return dns

    def answer(self, host: str, *per_lookup: list[str]) -> None:
        self.answers[host] = [list(addresses) for addresses in per_lookup]

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        if host not in self.answers:
            return self._real(host, port, family, type, proto, flags)
        self.lookups.append(host)
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [_addrinfo(address, port) for address in addresses]


def _addrinfo(address: str, port):
    if ":" in address:
        return socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)
    return socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)
