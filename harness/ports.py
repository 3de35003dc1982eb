"""Free loopback ports."""

from __future__ import annotations

import socket
from contextlib import closing


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port_run(count: int) -> int:
    """A base port B with B+1..B+count free on loopback (replica n listens on B+n)."""
    for _ in range(100):
        base = free_port()
        if base + count < 65535 and not any(port_in_use(base + n) for n in range(1, count + 1)):
            return base
    raise RuntimeError(f"no run of {count} free ports found")
