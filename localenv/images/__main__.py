"""python -m localenv.images build NAME... | import --address SOCKET [--namespace NS] NAME... | list"""

import argparse
import json
import signal
import sys
from dataclasses import asdict

from .build import RECIPES, BuildError, build, import_image, recipe


def main() -> int:
    # SIGTERM unwinds like Ctrl-C: the running tool is stopped and the build's work directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m localenv.images", description=__doc__)
    parser.add_argument("command", choices=["build", "import", "list"])
    parser.add_argument("names", nargs="*", help=f"recipes (default: all): {', '.join(RECIPES)}")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache has the key")
    parser.add_argument("--address", help="containerd socket (import)")
    parser.add_argument("--namespace", default="k8s.io")
    options = parser.parse_intermixed_args()
    names = options.names or list(RECIPES)
    try:
        if options.command == "list":
            for name in names:
                print(f"{name}\t{recipe(name).reference()}")
            return 0
        for name in names:
            if options.command == "build":
                built = build(name, force=options.force)
            else:
                if not options.address:
                    parser.error("import needs --address")
                built = import_image(name, options.address, options.namespace)
            print(json.dumps(asdict(built)))
    except BuildError as error:
        print(f"images: could not obtain {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
