"""Loaded by any Python started with this folder on PYTHONPATH: refuses (and records) every attempt
to reach a host other than this machine, so a test can prove that the app never uses the network."""
import os
import socket

LOG = os.environ.get("NETGUARD_LOG")
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", ""}


def _local(host):
    return isinstance(host, str) and (host in LOCAL_NAMES or host.startswith("127."))


def _refuse(what):
    if LOG:
        with open(LOG, "a") as f:
            f.write(what + "\n")
    raise ConnectionRefusedError(f"the network is off in this test: {what}")


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connect {address}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connect_ex {address}")
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _local(host if isinstance(host, str) else host.decode()):
        _refuse(f"getaddrinfo {host}")
    return _getaddrinfo(host, *args, **kwargs)


if LOG:
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
