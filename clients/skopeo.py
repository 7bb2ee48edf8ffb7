"""skopeo, the real Docker-protocol client, with its own auth file (it holds passwords or identity tokens: callers
remove it)."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Skopeo:
    authfile: Path
    binary: str = "skopeo"

    def login(self, host: str, username: str, password: str) -> subprocess.CompletedProcess:
        """`skopeo login` over plain HTTP, the password on stdin; result unchecked (callers expect either)."""
        return subprocess.run([self.binary, "login", "--authfile", str(self.authfile), "--tls-verify=false",
                               "-u", username, "--password-stdin", host], input=password, capture_output=True,
                              text=True, timeout=120)

    def store_identity_token(self, host: str, username: str, identity_token: str) -> None:
        """What `docker login` leaves in config.json when the token server gives a refresh token: the username with
        an empty password and the ``identitytoken`` (containers/image skips an entry without ``auth``)."""
        config = json.loads(self.authfile.read_text()) if self.authfile.exists() else {}
        config.setdefault("auths", {})[host] = {"auth": base64.b64encode(f"{username}:".encode()).decode(),
                                                "identitytoken": identity_token}
        self.authfile.write_text(json.dumps(config))

    def copy(self, source: str, destination: str, *global_flags: str, timeout: float = 180,
             quiet: bool = False) -> subprocess.CompletedProcess:
        """`skopeo copy` over plain HTTP with this auth file; result unchecked (``--debug`` goes in global_flags)."""
        return subprocess.run([self.binary, *global_flags, "copy", *(["--quiet"] if quiet else []),
                               "--authfile", str(self.authfile), "--src-tls-verify=false", "--dest-tls-verify=false",
                               source, destination], capture_output=True, text=True, timeout=timeout)
