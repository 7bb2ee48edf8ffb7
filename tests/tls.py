"""An https server on loopback whose certificate a fresh private CA signed, answering like Keycloak's admin API:
a token for any POST, one JSON document for any GET."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from cryptography.hazmat.primitives import serialization

from localenv.cluster import issue_certificate, new_rsa_key, private_key_pem


def json_handler(get_answer: dict) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self._answer({"access_token": "token"})

        def do_GET(self):
            self._answer(get_answer)

        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass
    return Handler


@contextlib.contextmanager
def https_json_server(directory: Path, get_answer: dict, ca_name: str = "private-ca") -> Iterator[tuple[str, str]]:
    """Yields (url, the CA's PEM)."""
    pem = serialization.Encoding.PEM
    ca_key, server_key = new_rsa_key(), new_rsa_key()
    ca = issue_certificate(ca_name, ca_key)
    server = issue_certificate("keycloak", server_key, (ca_name, ca_key), sans=("127.0.0.1",))
    (directory / "server.crt").write_bytes(server.public_bytes(pem))
    (directory / "server.key").write_bytes(private_key_pem(server_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), json_handler(get_answer))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_port}", ca.public_bytes(pem).decode()
    finally:
        httpd.shutdown()
        httpd.server_close()
