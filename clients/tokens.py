"""Requests to the registry's token endpoint as docker and skopeo make them: the distribution spec's GET with HTTP
Basic (``offline_token=true`` asks for a refresh token, as `docker login` does), and its OAuth2 POST forms."""

from __future__ import annotations

from typing import Optional, Union

import requests

REQUEST_TIMEOUT = 30
Scope = Union[str, list[str]]


def token_query(service: str, scope: Scope, offline: bool = False) -> dict:
    """The GET's query parameters; a list of scopes goes as repeated ``scope`` parameters, as skopeo sends them for a
    cross-repository mount."""
    return {"service": service, "scope": scope, **({"offline_token": "true"} if offline else {})}


def refresh_form(service: str, refresh_token: str, scope: Scope, client_id: str = "containers/image") -> dict:
    """The OAuth2 refresh grant's form as containers/image sends it (one ``scope`` field per scope; docker joins them
    with spaces in one field)."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, "service": service, "scope": scope,
            "client_id": client_id}


def request_token(token_realm: str, service: str, username: str, password: str, scope: Scope,
                  session: Optional[requests.Session] = None, offline: bool = False) -> requests.Response:
    return (session or requests).get(token_realm, params=token_query(service, scope, offline),
                                     auth=(username, password), timeout=REQUEST_TIMEOUT)


def refresh(token_realm: str, service: str, refresh_token: str, scope: Scope,
            session: Optional[requests.Session] = None, client_id: str = "containers/image") -> requests.Response:
    return (session or requests).post(token_realm, data=refresh_form(service, refresh_token, scope, client_id),
                                      timeout=REQUEST_TIMEOUT)


def password_grant(token_realm: str, service: str, username: str, password: str, scope: Scope,
                   session: Optional[requests.Session] = None, offline: bool = False) -> requests.Response:
    """The OAuth2 password grant (containerd's resolver sends it first); ``offline`` adds ``access_type=offline``."""
    return (session or requests).post(token_realm, data={
        "grant_type": "password", "username": username, "password": password, "service": service, "scope": scope,
        "client_id": "keycloak-registry-tests", **({"access_type": "offline"} if offline else {})},
        timeout=REQUEST_TIMEOUT)
