"""Container images of the local environment, built here (no registry is reachable) and imported into containerd.

    python -m localenv.images build pause mariadb keycloak registry registry_legacy busybox coredns \
        local_path_provisioner kubectl versitygw   (no name: all; --force rebuilds; `list` prints the references)
    python -m localenv.images import --address /run/x/containerd.sock keycloak

API: ``build_image(name, force=False) -> Built`` (OCI layout tar, cached by content under
~/.cache/keycloak-registry/images/), ``import_image(name, containerd_address, namespace="k8s.io")``,
``reference(name)`` (the exact name the program deploys). One recipe module per image says what it reproduces of
the official image and what it does not.
"""

from .build import RECIPES, BuildError, Built, import_image, recipe
from .build import build as build_image


def reference(name: str) -> str:
    return recipe(name).reference()


__all__ = ["RECIPES", "BuildError", "Built", "build_image", "import_image", "recipe", "reference"]
