"""A reproducible OCI image-layout tar from one rootfs directory, for `ctr images import`.

One gzip layer (entries sorted, numeric owners only, every mtime = SOURCE_DATE_EPOCH, gzip header mtime 0 and no
file name), an image config, a manifest, and an index whose manifest carries the `io.containerd.image.name`
annotation with the full reference, so containerd imports it under exactly that name. The same rootfs and
config give the same bytes, hence the same digests.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import os
import stat
import struct
import tarfile
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
SKIP_CONTENT = ("dev", "proc", "sys")  # kept as empty directories: the runtime mounts them


class _Hashing(io.RawIOBase):
    """A write-through file that counts and hashes what goes through it."""

    def __init__(self, sink):
        self.sink, self.sha, self.size = sink, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.sink.write(data) if self.sink is not None else len(data)


def _walk(directory: Path, top: bool = True) -> Iterator[Path]:
    """Every path under directory in byte order, parents before children, not descending into SKIP_CONTENT."""
    for name in sorted(os.listdir(directory), key=os.fsencode):
        path = directory / name
        yield path
        if path.is_dir() and not path.is_symlink() and not (top and name in SKIP_CONTENT):
            yield from _walk(path, top=False)


def _file_capability(path: Path) -> Optional[bytes]:
    """The one extended attribute images carry: file capabilities (setcap)."""
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None


def write_layer(rootfs: Path, out, epoch: int = EPOCH) -> tuple[str, str, int]:
    """Tar + gzip rootfs into the open binary file out; returns (diff_id, digest, compressed size)."""
    compressed = _Hashing(out)
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6)
    plain = _Hashing(gz)
    with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(Path(rootfs)):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
            if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE) or stat.S_ISSOCK(path.lstat().st_mode):
                continue  # device nodes, fifos and sockets belong to the runtime, not the image
            info.mtime, info.uname, info.gname = epoch, "", ""
            if info.isreg() and (capability := _file_capability(path)):  # e.g. coredns's cap_net_bind_service
                info.pax_headers = {"SCHILY.xattr.security.capability": capability.decode("utf-8", "surrogateescape")}
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    gz.close()
    return "sha256:" + plain.sha.hexdigest(), "sha256:" + compressed.sha.hexdigest(), compressed.size


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_image(rootfs: Path, out_tar: Path, reference: str, config: Mapping, epoch: int = EPOCH,
                labels: Optional[Mapping[str, str]] = None, aliases: Sequence[str] = ()) -> dict:
    """Write the OCI layout tar of rootfs as `reference` (repository:tag), and as each alias (same manifest).
    config holds the image config's Env/Entrypoint/Cmd/User/WorkingDir/ExposedPorts (Docker spelling:
    ExposedPorts {"3306/tcp": {}}).
    Returns {"manifest": digest, "config": digest, "layer": digest, "size": bytes of out_tar}."""
    out_tar = Path(out_tar)
    layer_file = out_tar.with_suffix(".layer.tmp")
    try:
        with open(layer_file, "wb") as f:
            diff_id, layer_digest, layer_size = write_layer(Path(rootfs), f, epoch)
    except BaseException:
        layer_file.unlink(missing_ok=True)
        raise
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    image_config = {k: v for k, v in config.items() if v not in (None, [], {}, "")}
    if labels:
        image_config["Labels"] = dict(labels)
    config_blob = _json({
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "architecture": "amd64", "os": "linux",
        "config": image_config, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "created_by": f"localenv.images {reference}"}],
    })
    config_digest = "sha256:" + hashlib.sha256(config_blob).hexdigest()
    manifest_blob = _json({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config_blob)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": layer_size}],
    })
    manifest_digest = "sha256:" + hashlib.sha256(manifest_blob).hexdigest()
    index_blob = _json({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": len(manifest_blob), "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}
                      for name in [reference, *aliases]],
    })
    tmp = out_tar.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: Optional[bytes] = None, path: Optional[Path] = None, kind=tarfile.REGTYPE):
            info = tarfile.TarInfo(name)
            info.mtime, info.type = epoch, kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            if kind == tarfile.DIRTYPE:
                tar.addfile(info)
            elif path is not None:
                info.size = path.stat().st_size
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        add("blobs", kind=tarfile.DIRTYPE)
        add("blobs/sha256", kind=tarfile.DIRTYPE)
        blobs = sorted([(config_digest, config_blob, None), (layer_digest, None, layer_file),
                        (manifest_digest, manifest_blob, None)])
        for digest, data, path in blobs:
            add("blobs/sha256/" + digest.split(":")[1], data, path)
        add("index.json", index_blob)
        add("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    layer_file.unlink()
    os.replace(tmp, out_tar)
    return {"manifest": manifest_digest, "config": config_digest, "layer": layer_digest,
            "size": out_tar.stat().st_size, "layer_size": layer_size}


def exposed(ports: Sequence) -> dict:
    """ExposedPorts from 8080 (tcp) or "53/udp"."""
    return {(port if "/" in str(port) else f"{port}/tcp"): {} for port in ports}


def file_capability_bind_service() -> bytes:
    """security.capability for `cap_net_bind_service=+ep` (VFS_CAP_REVISION_2, effective, permitted bit 10)."""
    return struct.pack("<IIIII", 0x02000000 | 0x000001, 1 << 10, 0, 0, 0)
