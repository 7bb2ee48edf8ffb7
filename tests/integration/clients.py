"""Clients of the real servers: token requests, raw registry calls, forged JWTs, skopeo and a hand-made OCI image."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clients import skopeo, tokens
from clients.oci import write_oci_layout
from components.signing_keys import SECRET_NAME, libtrust_kid
from lib.keycloak_admin import KeycloakAdmin
from settings import ACCESS_ALLOW_ALL

SCOPE = "repository:test/hello:pull,push"


def expired(robot: dict) -> bool:
    """Whether an env.json robot's expiresAt (UTC, RFC 3339 with Z) has passed."""
    return bool(robot.get("expires_at")) and robot["expires_at"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def request_token(env_json: dict, username: str, password: str, service: Optional[str] = None,
                  scope: Union[str, list[str]] = SCOPE) -> requests.Response:
    """Ask Keycloak's docker-v2 endpoint for a token the way docker and skopeo do (clients.tokens)."""
    return tokens.request_token(env_json["token_realm"], service or env_json["service"], username, password, scope)


def token_for(env_json: dict, username: str, password: str, scope: Union[str, list[str]] = SCOPE,
              service: Optional[str] = None) -> str:
    response = request_token(env_json, username, password, service=service, scope=scope)
    assert response.status_code == 200, response.text[:300]
    return response.json()["token"]


def granted(token: str) -> dict[str, list[str]]:
    """The token's access claim as {"type:name": actions}."""
    return {f"{item['type']}:{item['name']}": item["actions"] for item in jwt_parts(token)[1].get("access") or []}


def refresh_refused(response: requests.Response) -> bool:
    """The OAuth2 answer to a refresh token that must not work: 400 invalid_grant, and no token of any kind."""
    return (response.status_code == 400 and response.json().get("error") == "invalid_grant"
            and not {"token", "access_token", "refresh_token"} & set(response.json()))


def user_events(local_env, realm: str, client_id: str, event: str) -> float:
    """keycloak_user_events_total of one realm, client and event type (successes and errors), summed over the ready
    Keycloak pods' management ports: each pod counts only the events it handled."""
    labels = (f'client_id="{client_id}"', f'event="{event}"', f'realm="{realm}"')
    total = 0.0
    for pod in local_env.pods("keycloak"):
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            continue
        for line in requests.get(f"http://{ip}:9000/metrics", timeout=10).text.splitlines():
            if line.startswith("keycloak_user_events_total{") and all(label in line for label in labels):
                total += float(line.rsplit(" ", 1)[1])
    return total


def registry_get(registry: dict, token: Optional[str], path: str = "/v2/", method: str = "GET") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, registry["url"] + path, headers=headers, timeout=30)


def jwt_parts(token: str) -> tuple[dict, dict]:
    def decode(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    header, payload, _ = token.split(".")
    return decode(header), decode(payload)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(header: dict, claims: dict, key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def forged_claims(env_json: dict, **overrides) -> dict:
    now = int(time.time())
    claims = {"iss": env_json["issuer"], "aud": env_json["service"], "sub": "forger", "iat": now, "nbf": now - 5,
              "exp": now + 300, "jti": str(uuid.uuid4()), "access": []}
    claims.update(overrides)
    return claims


def kid_of(key: rsa.RSAPrivateKey) -> str:
    return libtrust_kid(key.public_key())


# ------------------------------------------------------------------------- realm objects the tests add
def created_id(response: requests.Response) -> str:
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def add_realm_user(admin: KeycloakAdmin, realm: str, username: str, password: str, group_id: str = "",
                   enabled: bool = True) -> str:
    """A user the stack does not declare (an outsider, a disabled member): the tests' adversaries."""
    user_id = created_id(admin.call("POST", f"/{realm}/users", json={
        "username": username, "enabled": enabled, "requiredActions": [],
        "credentials": [{"type": "password", "value": password, "temporary": False}]}))
    if group_id:
        admin.call("PUT", f"/{realm}/users/{user_id}/groups/{group_id}")
    return user_id


def group_id(admin: KeycloakAdmin, realm: str, name: str) -> str:
    return next(g["id"] for g in admin.call("GET", f"/{realm}/groups").json() if g["name"] == name)


def signing_secret(kube, namespace: str) -> dict[str, str]:
    """The files of the certificate Secret the program wrote into the API server."""
    return {k: v.decode() for k, v in kube.secret_data(namespace, SECRET_NAME).items()}


def client_props(admin: KeycloakAdmin, realm: str, client_id: str, description: str = "",
                 access_mode: str = ACCESS_ALLOW_ALL) -> dict:
    """Inputs of the docker-v2 client dynamic provider, for tests that call it directly."""
    return {"server_url": admin.base_url, "admin_username": admin.username, "admin_password": admin.password,
            "realm": realm, "client_id": client_id, "name": client_id, "description": description, "enabled": True,
            "access_mode": access_mode, "default_access": "all", "foreign_mappers": [],
            "refresh_idle_seconds": 600, "refresh_max_age_seconds": 3600}


# --------------------------------------------------------------------------------------- jobs
def start_job(kube, namespace: str, cron_job: str) -> str:
    """A Job from a CronJob's template, owned by it, as `kubectl create job --from=cronjob/...` makes one."""
    cron = kube.get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{cron_job}")
    name = f"{cron_job}-test-{int(time.time())}"
    kube.call("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", json={
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cron_job,
                                          "uid": cron["metadata"]["uid"], "controller": True}]},
        "spec": cron["spec"]["jobTemplate"]["spec"]})
    return name


def finished_job(kube, namespace: str, job: str, timeout: float) -> dict:
    """The Job's status once it succeeded or failed."""
    deadline = time.monotonic() + timeout
    while not ((status := kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{job}")["status"]).get("succeeded")
               or status.get("failed")):
        assert time.monotonic() < deadline, f"job {job} still running after {timeout:.0f} s:\n" \
                                            f"{job_log(kube, namespace, job)}"
        time.sleep(1)
    return status


def job_log(kube, namespace: str, job: str) -> str:
    """Every container's log (init containers first), as `kubectl logs --all-containers` prints them."""
    logs = []
    for pod in kube.items(f"/api/v1/namespaces/{namespace}/pods", f"job-name={job}"):
        for container in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
            logs.append(kube.call("GET", f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log",
                                  params={"container": container["name"]}, expect=(200, 400)).text)
    return "\n".join(logs)


# --------------------------------------------------------------------------------------- skopeo
class Skopeo(skopeo.Skopeo):
    """The shared skopeo client, plus the tests' checked run and a login-then-copy push and pull."""

    def run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"skopeo {' '.join(args)} failed: {result.stderr}"
        return result

    def push(self, registry: dict, credentials: tuple[str, str], image_dir: Path | str,
             repository: str) -> subprocess.CompletedProcess:
        """Log in with these credentials, then copy the OCI layout to ``repository:1``; result unchecked."""
        assert self.login(registry_host(registry), *credentials).returncode == 0
        return self.copy(f"oci:{image_dir}:v1", f"docker://{registry_host(registry)}/{repository}:1")

    def pull(self, registry: dict, credentials: tuple[str, str], repository: str,
             target: Path | str) -> subprocess.CompletedProcess:
        assert self.login(registry_host(registry), *credentials).returncode == 0
        return self.copy(f"docker://{registry_host(registry)}/{repository}:1", f"oci:{target}:v1")


def registry_host(registry: dict) -> str:
    """host:port of an env.json registry entry, as docker and skopeo name it."""
    return urlsplit(registry["url"]).netloc


def write_oci_image(directory: Path, tag: str, content: bytes) -> str:
    """A one-layer OCI image layout (clients.oci); returns its manifest digest."""
    return write_oci_layout(directory, tag, [("hello.txt", content)])["manifest"]
