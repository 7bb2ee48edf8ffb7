"""OCI image layouts written by hand (no image tool on this machine): what skopeo pushes from ``oci:<dir>:<tag>``."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any, Sequence

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def write_oci_layout(directory: Path, tag: str, layers: Sequence[tuple[str, bytes]],
                     compresslevel: int = 9) -> dict[str, Any]:
    """An image of one layer per (file name, content), each a one-file tar; deterministic (mtime 0). Returns the
    manifest digest, every blob's digest and the bytes they hold."""
    blobs_dir = directory / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)

    def blob(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs_dir / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer_refs, diff_ids = [], []
    for name, content in layers:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
        diff_ids.append(f"sha256:{hashlib.sha256(archive.getvalue()).hexdigest()}")
        layer_refs.append({"mediaType": LAYER_MEDIA_TYPE,
                           **blob(gzip.compress(archive.getvalue(), compresslevel=compresslevel, mtime=0))})
    image_config = {"architecture": "amd64", "os": "linux", "config": {},
                    "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(image_config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config, "layers": layer_refs}
    manifest_ref = {"mediaType": manifest["mediaType"], **blob(json.dumps(manifest).encode()),
                    "annotations": {"org.opencontainers.image.ref.name": tag}}
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [manifest_ref]}))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return {"manifest": manifest_ref["digest"], "blobs": [ref["digest"] for ref in [*layer_refs, config]],
            "bytes": sum(ref["size"] for ref in [*layer_refs, config])}
