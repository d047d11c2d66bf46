"""The TLS settings of a connection to the hub, shared by the site agent and the researcher
SDK: the network's CA instead of the system's trust store, and a client certificate for a
hub that requires mutual TLS (``behindglass network init`` makes both)."""

from __future__ import annotations

import ssl
from pathlib import Path

from behindglass.core.errors import NetworkError


def tls_context(ca_file: str | Path | None,
                client_cert: tuple[str | Path, str | Path] | None) -> ssl.SSLContext | bool:
    """What httpx's ``verify`` takes: True (the system's trust store, no client
    certificate) or a context with the network's CA and this member's certificate."""
    if ca_file is None and client_cert is None:
        return True
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if client_cert is not None:
            context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    except (ssl.SSLError, OSError) as exc:
        raise NetworkError(f"TLS files {ca_file} / {client_cert}: unusable ({exc})") from None
    return context
