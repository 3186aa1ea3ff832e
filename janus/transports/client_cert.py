"""Mutual TLS identities at the edge: the client certificate a connection presented, and what it means
for the bearer (issue 13, part 4).

gunicorn verified the certificate against CLIENT_CA_PATH during the handshake (janus.config
.server_tls_context); WSGI has no standard key for it, so it is read from the connection's socket,
which gunicorn puts in the environ as `gunicorn.socket`. Its SHA-256 fingerprint and subject are
computed once per connection and kept on that socket: a keep-alive connection's later requests, and
every `/mcp`, `/sse` and `/messages` request on it, cost an attribute read. Which token a certificate
names is a dict lookup in the catalogue snapshot (`CatalogSnapshot.token_for_certificate`).

The rules, applied by `janus.transports.edge.Edge.principal`:

- No bearer and a certificate bound to an active token: the request is that token.
- A bearer whose token is bound to a certificate: refused (401) unless this connection presented it.
- A bearer whose token is not bound: as without mutual TLS, whatever certificate the connection has.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from janus.gateway.catalog import Catalog, TokenRecord

log = logging.getLogger(__name__)

SOCKET_KEY = "gunicorn.socket"  # gunicorn's environ key for the connection's socket (gunicorn.http.wsgi)
_ATTRIBUTE = "_janus_client_certificate"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """What the gateway knows of a verified peer certificate: the forms a token binding is written in."""

    fingerprint: str  # SHA-256 of the DER encoding, 64 lower-case hex digits
    subject: str | None  # RFC 4514, as janus.schemas.token.check_subject spells it; None if unparsable


_NONE = ClientCertificate("", None)  # cached for a connection that presented no certificate


def identity(der: bytes) -> ClientCertificate:
    """The fingerprint and subject of a DER certificate."""
    from cryptography import x509

    fingerprint = hashlib.sha256(der).hexdigest()
    try:
        subject: str | None = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        # OpenSSL accepted it; a certificate cryptography cannot parse can still be bound by fingerprint.
        log.warning("a client certificate's subject could not be read (SHA-256 %s)", fingerprint)
        subject = None
    return ClientCertificate(fingerprint, subject)


def presented(environ: dict[str, Any]) -> ClientCertificate | None:
    """The verified certificate this request's connection presented, or None (plain HTTP, no
    certificate, or a server that does not expose its socket)."""
    sock = environ.get(SOCKET_KEY)
    if sock is None:
        return None
    cached = getattr(sock, _ATTRIBUTE, None)
    if cached is None:
        getpeercert = getattr(sock, "getpeercert", None)
        der = getpeercert(binary_form=True) if getpeercert is not None else None
        cached = identity(der) if der else _NONE
        try:
            setattr(sock, _ATTRIBUTE, cached)
        except AttributeError:  # a socket class with __slots__ only: compute again next time
            pass
    return None if cached is _NONE else cached


def token_without_bearer(catalog: Catalog, environ: dict[str, Any]) -> str | None:
    """The hash of the active token bound to the presented certificate, or None (the catalogue is not
    consulted for a connection without a certificate)."""
    certificate = presented(environ)
    if certificate is None:
        return None
    snapshot = catalog.current()
    token_hash = snapshot.token_for_certificate(certificate.fingerprint, certificate.subject)
    if token_hash is None or not snapshot.tokens[token_hash].is_active():
        return None
    return token_hash


def binding_holds(record: TokenRecord, environ: dict[str, Any]) -> bool:
    """Whether a bearer's token may be used on this connection: unbound, or bound to the certificate
    the connection presented."""
    if not record.cert_bound:
        return True
    certificate = presented(environ)
    if certificate is None:
        return False
    return record.certificate_matches(certificate.fingerprint, certificate.subject)
