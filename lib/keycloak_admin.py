"""A minimal client for Keycloak's admin REST API, for what pulumi-keycloak cannot do.

It holds plain values only (no session), so objects that keep one survive Pulumi's dill serialization.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union
from urllib.parse import quote

import requests

TIMEOUT_SECONDS = 30
EXPECT_SUCCESS = (200, 201, 204)


class KeycloakApiError(RuntimeError):
    """The admin API answered something other than what the call expected."""

    def __init__(self, method: str, url: str, status: int, body: str):
        self.status = status
        super().__init__(f"Keycloak admin API {method} {url} answered {status}: {body.strip()[:500] or '(empty body)'}")


_ca_lock = threading.Lock()
_ca_files: dict[str, Path] = {}  # sha256 of a PEM bundle -> its file in this process's private directory
_ca_directory: Optional[Path] = None


def tls_verify(ca_certificate: str) -> Union[bool, str]:
    """requests' ``verify``: the system's CAs, or a file holding exactly the given PEM bundle. The file lives in
    a directory only this process made (0700), so no other user can plant a CA, and appears complete or not at all."""
    if not ca_certificate:
        return True
    data = ca_certificate.encode()
    digest = hashlib.sha256(data).hexdigest()
    with _ca_lock:
        path = _ca_files.get(digest)
        if path is None or not path.is_file() or path.read_bytes() != data:
            path = _private_directory() / f"{digest}.pem"
            fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
            _ca_files[digest] = path
    return str(path)


def _private_directory() -> Path:
    """This process's own directory for CA files (mkdtemp: mode 0700, a fresh name), removed at exit."""
    global _ca_directory
    if _ca_directory is None or not _ca_directory.is_dir():
        _ca_directory = Path(tempfile.mkdtemp(prefix="keycloak-registry-ca-"))
        atexit.register(shutil.rmtree, _ca_directory, ignore_errors=True)
    return _ca_directory


@dataclass(frozen=True)
class KeycloakAdmin:
    base_url: str
    username: str
    password: str
    login_realm: str = "master"
    ca_certificate: str = ""  # PEM CA bundle for an https admin URL signed by a private or staging CA

    def login(self) -> AdminSession:
        """Log in once for several calls (a credential rotation must finish with the login it started with)."""
        session = requests.Session()
        # Passed on each request too: requests lets REQUESTS_CA_BUNDLE override a session's verify, not a request's.
        session.verify = tls_verify(self.ca_certificate)
        try:
            session.headers["Authorization"] = f"Bearer {self._token(session)}"
        except BaseException:
            session.close()
            raise
        return AdminSession(self.base_url, session)

    def call(self, method: str, path: str, json: Any = None, expect: tuple[int, ...] = EXPECT_SUCCESS,
             params: Optional[dict] = None) -> requests.Response:
        """One admin call (path below /admin/realms) with a fresh session and token; other statuses raise."""
        with self.login() as session:
            return session.call(method, path, json=json, expect=expect, params=params)

    def _token(self, session: requests.Session) -> str:
        url = f"{self.base_url}/realms/{quote(self.login_realm)}/protocol/openid-connect/token"
        response = session.post(url, data={"grant_type": "password", "client_id": "admin-cli",
                                           "username": self.username, "password": self.password},
                                timeout=TIMEOUT_SECONDS, verify=session.verify)
        if response.status_code != 200:
            raise KeycloakApiError("POST", url, response.status_code, response.text)
        return response.json()["access_token"]


class AdminSession:
    """An HTTP session holding one admin token; use it in a ``with`` block."""

    def __init__(self, base_url: str, session: requests.Session):
        self._base_url = base_url
        self._session = session

    def call(self, method: str, path: str, json: Any = None, expect: tuple[int, ...] = EXPECT_SUCCESS,
             params: Optional[dict] = None) -> requests.Response:
        url = f"{self._base_url}/admin/realms{path}"
        response = self._session.request(method, url, json=json, params=params, timeout=TIMEOUT_SECONDS,
                                         verify=self._session.verify)
        if response.status_code not in expect:
            raise KeycloakApiError(method, url, response.status_code, response.text)
        return response

    def __enter__(self) -> AdminSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self._session.close()
