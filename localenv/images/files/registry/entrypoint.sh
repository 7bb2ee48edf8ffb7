#!/bin/sh
# /entrypoint.sh of the locally built docker.io/library/registry images (recipes: localenv/images/registry.py and
# registry_legacy.py). Same behaviour as the official image's entrypoint (distribution/distribution-library-image):
# a first argument that is a file is a config to serve, `sh` gives a shell, anything else is a registry subcommand.
set -e
case "$1" in
	sh) shift; exec /bin/sh "$@" ;;
esac
if [ -f "$1" ]; then
	exec /bin/registry serve "$@"
fi
exec /bin/registry "$@"
