"""*.localhost is loopback (RFC 6761), but glibc's resolver does not say so on every machine:
`install()` resolves it in this process only (never /etc/hosts). TLS still sees the original
host name (SNI and certificate check). Used by keyledger_e2e.py and, through sitecustomize, by
the Azure CLI the identity e2e runs (test/e2e/identity/az-localhost/)."""
import socket

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, (str, bytes)):
        name = host.decode() if isinstance(host, bytes) else host
        if name == "localhost" or name.endswith(".localhost"):
            host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


def install():
    socket.getaddrinfo = _getaddrinfo
