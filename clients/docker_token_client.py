"""docker-token-client: the docker daemon's own login, pull and push code (moby v28.5.2's registry package, the
docker/distribution v2.8.3 client) as a small Go program, to prove identity tokens without a docker engine."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from localenv.images.build import CACHE, BuildError, log, run

SOURCE = Path(__file__).resolve().parent / "docker_token_client"
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
GO_ENV = {"GOMODCACHE": str(CACHE / "gomod"), "GOCACHE": str(CACHE / "gocache"), "GOFLAGS": "-buildvcs=false",
          "CGO_ENABLED": "0", "GOWORK": "off", "GOTOOLCHAIN": "local"}
TIMEOUT = 120


class DockerTokenClientError(RuntimeError):
    """login failed; ``result`` keeps the exit status (3: the token server returned no refresh token) and stderr."""

    def __init__(self, result: subprocess.CompletedProcess):
        super().__init__(f"docker-token-client login failed with exit {result.returncode}: {result.stderr.strip()}")
        self.result = result


def binary() -> Path:
    """The program built once per source (go.mod, go.sum, main.go) under the project's cache, with its Go caches."""
    sha = hashlib.sha256()
    for name in SOURCE_FILES:
        sha.update((SOURCE / name).read_bytes())
    path = CACHE / "bin" / f"docker-token-client-{sha.hexdigest()[:12]}" / "docker-token-client"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")  # concurrent builders each rename a whole file
    log("building docker-token-client with go build")
    try:
        run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."], capture=True, env=GO_ENV,
            cwd=SOURCE)
    except (BuildError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise BuildError(f"docker-token-client: go build failed: {error}") from None
    os.replace(partial, path)
    return path


def login(binary: Path, registry: str, username: str, password: str) -> str:
    """`docker login`'s daemon side (moby's Service.Auth), the password on stdin; the identity token it returned."""
    result = subprocess.run([str(binary), "login", "--registry", registry, "--username", username], input=password,
                            capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise DockerTokenClientError(result)
    return result.stdout.strip()


def pull(binary: Path, registry: str, repo: str, tag: str, identity_token: str) -> subprocess.CompletedProcess:
    """`docker pull` with only the identity token (OAuth2 refresh_token grant); result unchecked, stdout the digest."""
    return subprocess.run([str(binary), "pull", "--registry", registry, "--repo", repo, "--tag", tag],
                          input=identity_token, capture_output=True, text=True, timeout=TIMEOUT)


def push(binary: Path, registry: str, repo: str, tag: str, identity_token: str) -> subprocess.CompletedProcess:
    """`docker push` of a fresh one-layer image with only the identity token; result unchecked, stdout the digest."""
    return subprocess.run([str(binary), "push", "--registry", registry, "--repo", repo, "--tag", tag],
                          input=identity_token, capture_output=True, text=True, timeout=TIMEOUT)
