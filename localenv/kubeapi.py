"""The few Kubernetes API calls localenv makes (bearer token, the local CA), with plain requests."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import requests

TIMEOUT_SECONDS = 10


def kubeconfig(server: str, ca_file: Path, token: str) -> dict:
    """A kubeconfig for one bearer token against the local API server."""
    return {"apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}]}


class KubeApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str):
        self.status = status
        super().__init__(f"Kubernetes API {method} {path} answered {status}: {body.strip()[:400]}")


@dataclass(frozen=True)
class KubeApi:
    server: str
    token: str
    ca_file: str

    def call(self, method: str, path: str, json: Any = None, expect: tuple[int, ...] = (200, 201),
             content_type: str = "application/json", params: Optional[dict] = None) -> requests.Response:
        response = requests.request(method, self.server + path, json=json, params=params, verify=self.ca_file,
                                    timeout=TIMEOUT_SECONDS, headers={"Authorization": f"Bearer {self.token}",
                                                                      "Content-Type": content_type})
        if response.status_code not in expect:
            raise KubeApiError(method, path, response.status_code, response.text)
        return response

    def get(self, path: str) -> Optional[dict]:
        response = self.call("GET", path, expect=(200, 404))
        return response.json() if response.status_code == 200 else None

    def exists(self, path: str) -> bool:
        try:
            return self.get(path) is not None
        except requests.RequestException:
            return False

    def items(self, path: str, label_selector: str = "") -> list[dict]:
        params = {"labelSelector": label_selector} if label_selector else None
        return self.call("GET", path, params=params).json()["items"]

    def apply(self, path: str, body: dict) -> dict:
        """Server-side apply as field manager localenv (creates or updates)."""
        return self.call("PATCH", path, json=body, params={"fieldManager": "localenv", "force": "true"},
                         content_type="application/apply-patch+yaml").json()

    def merge_patch(self, path: str, body: dict) -> dict:
        return self.call("PATCH", path, json=body, content_type="application/merge-patch+json").json()

    def ready(self) -> bool:
        try:
            return self.call("GET", "/readyz", expect=(200, 500, 503)).status_code == 200
        except requests.RequestException:
            return False

    def node_ready(self, name: str) -> bool:
        node = self.get(f"/api/v1/nodes/{name}") if self.ready() else None
        conditions = ((node or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def deployment_available(self, namespace: str, name: str) -> bool:
        """Every replica of the Deployment's current revision is updated and available."""
        deployment = self.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        if not deployment:
            return False
        status, wanted = deployment.get("status") or {}, deployment["spec"].get("replicas", 1)
        return status.get("observedGeneration", 0) >= deployment["metadata"]["generation"] and \
            status.get("updatedReplicas", 0) == wanted and status.get("availableReplicas", 0) == wanted and \
            status.get("replicas", 0) == wanted

    def serving_endpoints(self, namespace: str, service: str) -> tuple[int, int]:
        """(ready, not ready) endpoints of a Service, as kube-proxy sees them in its EndpointSlices."""
        slices = self.items(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                            f"kubernetes.io/service-name={service}")
        ready = [bool((e.get("conditions") or {}).get("ready")) for s in slices for e in s.get("endpoints") or []]
        return sum(ready), len(ready) - sum(ready)

    def claim_directory(self, namespace: str, claim: str) -> Path:
        """The host directory of a bound claim's volume (local-path makes hostPath or local volumes)."""
        bound = self.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
        volume = self.get(f"/api/v1/persistentvolumes/{bound['spec']['volumeName']}")["spec"]
        return Path((volume.get("hostPath") or volume.get("local"))["path"])

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        secret = self.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if secret is None:
            raise KubeApiError("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", 404, "secret not found")
        return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
