"""Refuse and record every connection to a non-loopback address.

Loaded in the test process by conftest.py and in every subprocess the tests
start (this folder is put first on PYTHONPATH, so Python imports it at start-up
as ``sitecustomize``). Each refused attempt is appended to the file named by
``MMCREW_NETGUARD_LOG``; the suite fails if that file is not empty.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import traceback

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local_host(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a name: only loopback names are allowed
    return ip.is_loopback or ip.is_unspecified


def _record(what: str) -> None:
    path = os.environ.get("MMCREW_NETGUARD_LOG")
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{what} (pid {os.getpid()})\n{stack}\n")


class NonLoopbackConnection(OSError):
    pass


def install() -> None:
    if getattr(socket, "_mmcrew_guarded", False):
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            if not _is_local_host(address[0]):
                _record(f"connect to {address!r}")
                raise NonLoopbackConnection(f"test network guard: connection to {address!r} refused")

    def connect(self, address):
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local_host(host):
            _record(f"name lookup of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"test network guard: lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket._mmcrew_guarded = True


if os.environ.get("MMCREW_NETGUARD_LOG"):
    install()
