"""localenv/images/oci.py writes reproducible OCI layouts that containerd imports under the full name; the recipes
take their names and versions from settings/keys.py and the local stack, never from copies."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import yaml

import settings
from localenv.images import build as images
from localenv.images import keycloak, mariadb, oci, pause, registry

REFERENCE = "docker.io/library/example:1.2.3"
CONFIG = {"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], "Entrypoint": ["/bin/entry"], "Cmd": ["serve"],
          "User": "999", "WorkingDir": "/srv", "ExposedPorts": oci.exposed([3306, 8080])}


def _rootfs(root: Path, mtime: int) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "srv" / "data").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "bin" / "entry").write_text("#!/bin/sh\nexec \"$@\"\n")
    os.chmod(root / "bin" / "entry", 0o755)
    (root / "srv" / "b.txt").write_text("b")
    (root / "srv" / "a.txt").write_text("a" * 5000)
    os.link(root / "srv" / "a.txt", root / "srv" / "a-hardlink.txt")
    (root / "srv" / "link").symlink_to("a.txt")
    (root / "dev" / "null-ish").write_text("runtime-owned, never in a layer")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def _blobs(layout: Path) -> dict[str, bytes]:
    with tarfile.open(layout) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_same_rootfs_gives_the_same_digests_whatever_the_mtimes(tmp_path):
    first = oci.write_image(_rootfs(tmp_path / "one", 1_000_000), tmp_path / "one.tar", REFERENCE, CONFIG, epoch=42)
    second = oci.write_image(_rootfs(tmp_path / "two", 2_000_000), tmp_path / "two.tar", REFERENCE, CONFIG, epoch=42)
    assert first == second
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    (tmp_path / "two" / "srv" / "b.txt").write_text("changed")
    third = oci.write_image(tmp_path / "two", tmp_path / "three.tar", REFERENCE, CONFIG, epoch=42)
    assert third["layer"] != first["layer"] and third["manifest"] != first["manifest"]


def test_layout_is_importable_under_the_full_name(tmp_path):
    digests = oci.write_image(_rootfs(tmp_path / "root", 5), tmp_path / "image.tar", REFERENCE, CONFIG, epoch=42)
    with tarfile.open(tmp_path / "image.tar") as tar:
        names = tar.getnames()
        assert all(m.mtime == 42 and m.uid == 0 and m.uname == "" for m in tar.getmembers())
    assert {"index.json", "oci-layout", "blobs", "blobs/sha256"} <= set(names)
    blobs = _blobs(tmp_path / "image.tar")
    assert json.loads(blobs["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in blobs.items():  # every blob is named by its content
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(blobs["index.json"])
    [entry] = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == REFERENCE
    assert entry["digest"] == digests["manifest"] and entry["platform"] == {"architecture": "amd64", "os": "linux"}
    manifest = json.loads(blobs["blobs/sha256/" + entry["digest"].split(":")[1]])
    assert manifest["config"]["digest"] == digests["config"]
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    config = json.loads(blobs["blobs/sha256/" + digests["config"].split(":")[1]])
    assert {k: config["config"][k] for k in CONFIG} == CONFIG
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    gz = blobs["blobs/sha256/" + layer["digest"].split(":")[1]]
    assert gz[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    plain = gzip.decompress(gz)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(plain).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(plain)) as layer_tar:
        members = layer_tar.getmembers()
    names = [m.name for m in members]
    assert names == ["bin", "bin/entry", "dev", "srv", "srv/a-hardlink.txt", "srv/a.txt", "srv/b.txt", "srv/data",
                     "srv/link"]  # sorted, parents first, nothing below dev/
    by_name = {m.name: m for m in members}
    assert by_name["srv/a.txt"].islnk() and by_name["srv/a.txt"].linkname == "srv/a-hardlink.txt"
    assert by_name["srv/link"].issym() and by_name["bin/entry"].mode == 0o755
    assert all(m.mtime == 42 and m.uname == "" and m.gname == "" for m in members)


def test_file_capabilities_survive_into_the_layer(tmp_path):
    """coredns binds :53 as uid 65532 through cap_net_bind_service=+ep on its binary (security.capability)."""
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "server").write_bytes(b"\x7fELF")
    capability = oci.file_capability_bind_service()
    os.setxattr(root / "bin" / "server", "security.capability", capability)
    oci.write_image(root, tmp_path / "image.tar", REFERENCE, CONFIG, epoch=1)
    blobs = _blobs(tmp_path / "image.tar")
    manifest = json.loads(blobs["blobs/sha256/" + json.loads(blobs["index.json"])["manifests"][0]["digest"][7:]])
    plain = gzip.decompress(blobs["blobs/sha256/" + manifest["layers"][0]["digest"][7:]])
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        member = tar.getmember("bin/server")
    assert member.pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == capability


def test_aliases_name_the_same_manifest(tmp_path):
    digests = oci.write_image(_rootfs(tmp_path / "root", 5), tmp_path / "image.tar", REFERENCE, CONFIG, epoch=1,
                              aliases=["docker.io/library/example:latest"])
    entries = json.loads(_blobs(tmp_path / "image.tar")["index.json"])["manifests"]
    assert [e["annotations"]["io.containerd.image.name"] for e in entries] == [
        REFERENCE, "docker.io/library/example:latest"]
    assert {e["digest"] for e in entries} == {digests["manifest"]}


def test_recipes_take_names_from_settings_and_the_local_stack():
    local = yaml.safe_load((images.ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]
    assert mariadb.reference() == f"{settings.DATABASE_IMAGES['mariadb']}:{local['keycloak-registry:databaseVersion']}"
    assert keycloak.reference() == f"{settings.KEYCLOAK_IMAGE}:{settings.KEYCLOAK_VERSION}"
    assert registry.reference() == f"{settings.REGISTRY_IMAGE}:{settings.REGISTRY_VERSION}"
    assert pause.reference() == "registry.k8s.io/pause:3.10"


@pytest.mark.parametrize("debian, upstream", [("1:10.11.19-0+deb12u1", "10.11.19"), ("2.8.2+ds1-1", "2.8.2"),
                                              ("1.14-1+b10", "1.14")])
def test_tags_follow_the_debian_upstream_version(debian, upstream):
    assert images.upstream_version(debian) == upstream


def test_unknown_recipe_is_named():
    with pytest.raises(images.BuildError, match="no image recipe 'nginx'"):
        images.recipe("nginx")
