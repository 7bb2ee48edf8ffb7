"""A person of the company's OpenID Connect provider, as a browser and a command-line client would be: sign in to the
registry's realm through its identity provider (authorization code with PKCE, the provider's login form filled in),
then mint, list and revoke app passwords at the extension's self-service endpoint with that token."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from components.single_sign_on import ALIAS, APP_PASSWORDS_PATH, SELF_SERVICE_CLIENT_ID

REDIRECT_URI = "http://127.0.0.1/callback"  # a loopback redirect the client allows; never fetched
FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"')
CONSENT_FORM = re.compile(r'<form[^>]*\baction="([^"]*/login-actions/consent[^"]*)"')
BROKER_LINK = re.compile(rf'href="([^"]*/broker/{ALIAS}/login[^"]*)"')


class LoopbackBrowser(requests.Session):
    """A browser on the machine: http://127.0.0.1 is a potentially trustworthy origin, so browsers send it the Secure
    cookies Keycloak sets (its sign-in session); requests would not."""

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def realm_url(env: dict) -> str:
    return f"{env['keycloak_url']}/realms/{env['realm']}"


def sign_in(env: dict, username: str, password: str) -> str:
    """An access token of the self-service client for a person of the provider (first sign-in creates the user)."""
    session = LoopbackBrowser()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page = session.get(f"{realm_url(env)}/protocol/openid-connect/auth", params={
        "client_id": SELF_SERVICE_CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256", "state": secrets.token_hex(8),
        "kc_idp_hint": ALIAS}, allow_redirects=False, timeout=30)
    back = at_provider(session, _follow(session, page), username, password)
    assert isinstance(back, str), f"the sign-in ended on a page, not the redirect: {back.status_code} {back.text[:600]}"
    code = parse_qs(urlsplit(back).query)["code"][0]
    tokens = requests.post(f"{realm_url(env)}/protocol/openid-connect/token", data={
        "grant_type": "authorization_code", "client_id": SELF_SERVICE_CLIENT_ID, "code": code,
        "redirect_uri": REDIRECT_URI, "code_verifier": verifier}, timeout=30)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["access_token"]


def at_provider(session: requests.Session, login_page: requests.Response, username: str, password: str):
    """Fill in the provider's login form and follow where it leads: the client's redirect URI (its URL) or a page."""
    action = FORM_ACTION.search(login_page.text)
    assert action, f"no login form of the provider: {login_page.status_code} {login_page.text[:500]}"
    answer = session.post(html.unescape(action.group(1)), data={"username": username, "password": password},
                          allow_redirects=False, timeout=30)
    return _follow(session, answer)


def approve_device(verification_uri: str, username: str, password: str) -> str:
    """What the person does with the link the device flow printed: open it, choose the company's sign-in, sign in
    there, grant the access Keycloak asks about; returns the text of the page it ends on."""
    session = LoopbackBrowser()
    login = _follow(session, session.get(verification_uri, allow_redirects=False, timeout=30))
    provider_link = BROKER_LINK.search(login.text)
    assert provider_link, f"no sign-in link of the identity provider: {login.text[:500]}"
    page = _follow(session, session.get(urljoin(login.url, html.unescape(provider_link.group(1))),
                                        allow_redirects=False, timeout=30))
    granting = at_provider(session, page, username, password)
    consent = CONSENT_FORM.search(granting.text)  # Keycloak asks before it lets a device have a token
    assert consent, f"no consent form: {granting.text[:500]}"
    code = re.search(r'name="code" value="([^"]+)"', granting.text).group(1)
    done = _follow(session, session.post(urljoin(granting.url, html.unescape(consent.group(1))),
                                         data={"code": code, "accept": "Yes"}, allow_redirects=False, timeout=30))
    return done.text


def _follow(session: requests.Session, response: requests.Response):
    """Follow redirects until a page (returned) or the client's redirect URI (its URL returned, not fetched)."""
    while response.is_redirect:
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(REDIRECT_URI):
            return location
        response = session.get(location, allow_redirects=False, timeout=30)
    return response


def app_passwords(env: dict, token: str, method: str = "GET", path: str = "", **body) -> requests.Response:
    """One call to the self-service endpoint as the token's user."""
    return requests.request(method, f"{realm_url(env)}/{APP_PASSWORDS_PATH}{path}", json=body or None,
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)


def mint(env: dict, token: str, name: str, **lifetime) -> dict:
    response = app_passwords(env, token, "POST", name=name, **lifetime)
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()
