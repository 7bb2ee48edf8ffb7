"""scripts/localenv up | down | status"""

import argparse
import json
import sys

from .environment import LocalEnvironment
from .processes import ServerError


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/localenv", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    env = LocalEnvironment()
    if command == "up":
        already = env.running()
        try:
            result = env.up()
        except ServerError as error:
            print(f"localenv: {error}", file=sys.stderr)
            return 1
        state = env.state()
        print(("already running" if already else f"up in {state['timings']['up']}s "
               f"(Keycloak ready in {state['timings']['keycloak_ready']}s)") + f"; {env.env_file}", file=sys.stderr)
        print(json.dumps({k: v for k, v in result.items() if k not in ("admin", "users")}, indent=2))
    elif command == "down":
        env.down()
        print("down: every process stopped", file=sys.stderr)
    else:
        print("running" if env.running() else "not running")
        return 0 if env.running() else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
