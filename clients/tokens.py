"""A docker-v2 token request, as docker and skopeo make it: GET on the realm's endpoint with HTTP Basic."""

from __future__ import annotations

from typing import Optional, Union

import requests

REQUEST_TIMEOUT = 30


def request_token(token_realm: str, service: str, username: str, password: str, scope: Union[str, list[str]],
                  session: Optional[requests.Session] = None) -> requests.Response:
    """A list of scopes goes as repeated ``scope`` parameters, as skopeo sends them for a cross-repository mount."""
    return (session or requests).get(token_realm, params={"service": service, "scope": scope},
                                     auth=(username, password), timeout=REQUEST_TIMEOUT)
