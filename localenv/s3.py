"""The S3 server of the local stack's registry: versitygw v1.8.0 (a real S3 gateway, posix backend) as a pod of the
node, in its own namespace, on a local-path claim, as a team would run MinIO or Ceph's gateway in a cluster.

The stack's registry stores its blobs in the bucket the local stack names (s3Bucket), the other registry line in
OTHER_LINE_BUCKET, the database backups their copies in the bucket of databaseBackupS3Prefix. The credentials are
generated once per environment; localenv gives them to the stack as Pulumi secrets (s3AccessKey, s3SecretKey) and
to versitygw as a Secret.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from settings import Settings

from . import images, processes
from .kubeapi import KubeApi
from .node import deploy, single_server

NAMESPACE = "s3"
NAME = "versitygw"
PORT = 7070
DATA_DIR = "/data"
USER_ID = 65532
OTHER_LINE_BUCKET = "registry-other-line"
CREDENTIALS_FILE = "s3-credentials"
START_TIMEOUT = 180


def endpoint() -> str:
    """What the registry pods reach it by (the pod's DNS search path completes the cluster domain)."""
    return f"http://{NAME}.{NAMESPACE}.svc:{PORT}"


def credentials(state_dir: Path) -> tuple[str, str]:
    """The environment's access key and secret, made on first use (0600)."""
    path = state_dir / CREDENTIALS_FILE
    if not path.exists():
        path.write_text(f"{'LOCAL' + secrets.token_hex(8).upper()}\n{secrets.token_urlsafe(30)}\n")
        path.chmod(0o600)
    access_key, secret_key = path.read_text().split()
    return access_key, secret_key


def buckets(settings: Settings) -> list[str]:
    """The stack's registry bucket, the other line's, and the database backups' when they go to S3 too."""
    backup = settings.database.backup
    backups = [backup.s3_bucket] if backup and backup.s3_prefix else []
    return [settings.registry.s3.bucket, OTHER_LINE_BUCKET, *backups]


def objects(access_key: str, secret_key: str, bucket_names: list[str]) -> list[dict]:
    """Namespace, credentials Secret, data claim, Deployment (the posix backend keeps each bucket as a directory:
    the pod creates them before it starts the server) and Service."""
    secret_env = [{"name": name, "valueFrom": {"secretKeyRef": {"name": NAME, "key": key}}}
                  for name, key in (("ROOT_ACCESS_KEY_ID", "access-key"), ("ROOT_SECRET_ACCESS_KEY", "secret-key"))]
    directories = " ".join(f"{DATA_DIR}/{bucket}" for bucket in bucket_names)
    secret = {"access-key": access_key, "secret-key": secret_key}
    return single_server(NAME, NAMESPACE, USER_ID, USER_ID, secret, "20Gi", {
        "name": NAME, "image": images.reference("versitygw"),
        "command": ["sh", "-c", f"mkdir -p {directories} && exec versitygw --port :{PORT} "
                                f"--keep-alive --health /health posix {DATA_DIR}"],
        "env": secret_env,
        "ports": [{"name": "s3", "containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 2},
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
    }, [], ("s3", PORT, PORT))


def start(api: KubeApi, settings: Settings, state_dir: Path) -> None:
    """Apply the objects and wait until versitygw answers its health check."""
    if settings.registry.s3.endpoint != endpoint():
        raise processes.ServerError(f"the local stack's s3Endpoint is {settings.registry.s3.endpoint!r}; the local "
                                    f"S3 server answers at {endpoint()}")
    deploy(api, objects(*credentials(state_dir), buckets(settings)), NAMESPACE, NAME, "the S3 server (versitygw)",
           START_TIMEOUT)


def data_directory(api: KubeApi, bucket: str) -> Path:
    """A bucket's directory on this host (the claim's local-path volume): the tests read what S3 holds there."""
    return api.claim_directory(NAMESPACE, NAME) / bucket
