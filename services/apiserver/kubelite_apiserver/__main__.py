"""kubelite-apiserver: Kubernetes-compatible REST over HTTP and the same API over NATS."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys

import uvicorn

from kubelite.logsetup import setup_logging
from kubelite_apiserver.config import Config, parse_args, to_env
from kubelite_apiserver.tlsprotocols import TLSHttpProtocol, TLSWebSocketProtocol

log = logging.getLogger("kubelite.apiserver")


async def _check_dependencies(cfg: Config) -> None:
    """Fail fast with one clear line when etcd or NATS is unreachable."""
    from kubelite.bus.connection import connect_nats
    from kubelite.storage.etcd import EtcdStore
    from kubelite_apiserver.http import bus_credentials

    store = await EtcdStore.connect(cfg.etcd, wait_seconds=cfg.connect_wait_seconds, tls=cfg.etcd_tls())
    await store.close()
    nc = await connect_nats(cfg.nats, name="kubelite-apiserver-check", wait_seconds=cfg.connect_wait_seconds,
                            credentials=bus_credentials(cfg))
    await nc.close()


KEEP_ALIVE_SECONDS = 90


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    setup_logging("apiserver", cfg.log_level)
    try:
        asyncio.run(_check_dependencies(cfg))
    except Exception as exc:
        sys.exit(f"kubelite-apiserver: {exc}")
    to_env(cfg)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    uvicorn.run(
        "kubelite_apiserver.http:create_app",
        factory=True,
        host=cfg.bind_address,
        port=cfg.port,
        workers=cfg.workers if cfg.workers > 1 else None,
        loop=loop,
        http=TLSHttpProtocol,  # put the verified client certificate's identity in the scope
        ws=TLSWebSocketProtocol,
        ssl_certfile=cfg.tls_cert_file,
        ssl_keyfile=cfg.tls_private_key_file,
        ssl_ca_certs=cfg.client_ca_file or None,
        ssl_cert_reqs=ssl.CERT_OPTIONAL if cfg.client_ca_file else ssl.CERT_NONE,
        lifespan="on",
        log_level="warning" if cfg.log_level != "debug" else "info",
        access_log=cfg.log_level == "debug",
        timeout_graceful_shutdown=int(cfg.shutdown_grace_seconds),
        # kube-apiserver keeps an idle connection 90 s (secure_serving.go, "matches
        # http.DefaultTransport keep-alive timeout"); uvicorn's 5 s made a client's POST on a
        # connection idle 5-90 s race the server's close and fail ("server disconnected").
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_config=None,
    )


if __name__ == "__main__":
    main()
