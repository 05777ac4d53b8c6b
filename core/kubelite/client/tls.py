"""TLS for API clients: an ssl.SSLContext from PEM bytes (what a kubeconfig carries).

Python's ssl module loads a client certificate only from files, so the certificate
and key go through a private temporary directory that is removed at once.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path


def client_context(
    *,
    ca_pem: bytes | None = None,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    insecure: bool = False,
) -> ssl.SSLContext:
    """Verify the server against `ca_pem` (the system store when None, nothing when
    `insecure`) and present `cert_pem`/`key_pem` when given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode())
    if cert_pem and key_pem:
        with tempfile.TemporaryDirectory(prefix="kubelite-tls-") as tmp:
            cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            for path, data in ((cert, cert_pem), (key, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            ctx.load_cert_chain(cert, key)
    return ctx
