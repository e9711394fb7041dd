"""HTTPS: ``specgate serve --ssl-certfile --ssl-keyfile`` serves the web app over TLS, with a Secure cookie and HSTS."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest
import trustme

from core.cli import build_parser
from core.cli.serve import check_tls_files, config_from_args, serve, start_web, web_server
from core.config import Config
from core.errors import ConfigError
from tests.web.support import PASSWORD, Clock, add_user, app_client
from web.app import create_app
from web.middleware import HSTS_HEADER


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pem_files(ca, tmp_path) -> tuple[str, str]:
    """(certificate, key) PEM files for 127.0.0.1, signed by ``ca``."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    return str(certfile), str(keyfile)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def tls_config(pem_files, **fields) -> Config:
    certfile, keyfile = pem_files
    return Config(web_host="127.0.0.1", web_port=0, web_ssl_certfile=certfile, web_ssl_keyfile=keyfile, **fields)


async def test_serve_answers_over_https_only(backend_url, pem_files, ca, capsys):
    url, options = backend_url
    config = tls_config(pem_files, store_url=url, store_options=options, listeners=[])
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop))
    printed = ""
    while "  web " not in printed:
        assert not task.done(), f"serve ended before it served: {printed}"
        await asyncio.sleep(0.05)
        printed += capsys.readouterr().out
    address = printed.split("  web ", 1)[1].split()[0]
    try:
        assert address.startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(verify=client_context(ca), base_url=address) as client:
            response = await client.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"ok": True})
        assert response.headers[HSTS_HEADER[0]] == HSTS_HEADER[1]
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient(base_url=address.replace("https://", "http://")) as plain:
                await plain.get("/healthz")
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA refuses the server
            async with httpx.AsyncClient(base_url=address) as untrusting:
                await untrusting.get("/healthz")
    finally:
        stop.set()
    assert await task == 0


async def test_the_session_cookie_is_secure_under_https(store, pem_files, ca):
    await add_user(store, "acme", "kim", "operator")
    config = tls_config(pem_files)
    server = web_server(create_app(config, store, clock=Clock()), config)
    task, address = await start_web(server, config)
    try:
        async with httpx.AsyncClient(verify=client_context(ca), base_url=address) as client:
            response = await client.post("/api/v1/session", json={"login": "kim", "password": PASSWORD})
    finally:
        server.should_exit = True
        await task
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("specgate_session=") and "secure" in cookie.lower()


async def test_the_session_cookie_is_not_secure_over_plain_http(store):
    await add_user(store, "acme", "kim", "operator")
    async with app_client(store) as client:
        response = await client.post("/api/v1/session", json={"login": "kim", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert "secure" not in response.headers["set-cookie"].lower()


def test_the_flags_set_the_certificate_and_key(pem_files, monkeypatch):
    for name in ("SPECGATE_WEB_SSL_CERTFILE", "SPECGATE_WEB_SSL_KEYFILE", "SPECGATE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    certfile, keyfile = pem_files
    parser = build_parser()
    config = config_from_args(parser.parse_args(["serve", "--ssl-certfile", certfile, "--ssl-keyfile", keyfile]))
    assert (config.web_ssl_certfile, config.web_ssl_keyfile, config.web_https) == (certfile, keyfile, True)
    assert config.web_secure_cookies
    with pytest.raises(ConfigError, match="both a certificate and its key"):
        config_from_args(parser.parse_args(["serve", "--ssl-certfile", certfile]))
    assert not config_from_args(parser.parse_args(["serve"])).web_https


def test_unusable_certificate_files_are_one_error_at_start(pem_files, ca, tmp_path):
    certfile, _ = pem_files
    other_key = tmp_path / "other-key.pem"
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    check_tls_files(tls_config(pem_files))
    check_tls_files(Config())  # plain HTTP: nothing to check
    with pytest.raises(ConfigError, match=r"web\.ssl_certfile"):
        check_tls_files(tls_config((certfile, str(other_key))))
    with pytest.raises(ConfigError, match="No such file"):
        check_tls_files(tls_config((str(tmp_path / "missing.pem"), str(other_key))))
