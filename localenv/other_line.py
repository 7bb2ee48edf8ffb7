"""Keeps the other registry line's Deployment a copy of the stack's registry Deployment: whenever the program rolls
its registry (new keys, new config), the copy rolls through the Deployment controller too.

Runs as its own daemon: ``python -m localenv.other_line STATE_DIR``; the copy is localenv.environment's
``registry_copy``.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import requests

from components.registry import NAME as REGISTRY

from . import images, s3
from .environment import (
    OTHER_LINE_NAME,
    OTHER_LINE_NODE_PORT,
    LocalEnvironment,
    claim,
    line_of,
    node_port_service,
    registry_copy,
)
from .kubeapi import KubeApiError

POLL_SECONDS = 1.0


def main() -> int:
    env = LocalEnvironment(Path(sys.argv[1]))
    api, namespace = env.kube(), env.settings.namespace
    image = images.reference("registry_legacy" if env.settings.registry.line == "3" else "registry")
    assert line_of(image) != env.settings.registry.line
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    applied = None
    service = node_port_service(namespace, OTHER_LINE_NAME, OTHER_LINE_NODE_PORT)
    service_path = f"/api/v1/namespaces/{namespace}/services/{service['metadata']['name']}"
    data = claim(namespace, f"{OTHER_LINE_NAME}-data", env.settings.registry.storage_size)
    bucket = s3.OTHER_LINE_BUCKET if env.settings.registry.storage == "s3" else ""
    claim_path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{data['metadata']['name']}"
    while not stopping:
        try:
            registry = api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{REGISTRY}")
            if registry:
                wanted = registry_copy(registry, OTHER_LINE_NAME, image, env.other_line_url(),
                                       claim=data["metadata"]["name"], bucket=bucket)
                path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{wanted['metadata']['name']}"
                if wanted != applied or not api.exists(path):  # a destroyed and recreated stack: copy again
                    if not bucket and not api.exists(claim_path):  # on S3 it has its own bucket instead
                        api.call("POST", claim_path.rsplit("/", 1)[0], json=data)
                    api.apply(service_path, service)
                    api.apply(path, wanted)
                    applied = wanted
                    print(f"{time.strftime('%H:%M:%S')} applied from registry generation "
                          f"{registry['metadata']['generation']}", flush=True)
        except (requests.RequestException, KubeApiError) as error:
            print(f"{time.strftime('%H:%M:%S')} sync failed: {error}", flush=True)
        time.sleep(POLL_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
