"""scripts/localenv up | down | status | preview | pulumi ARGS..."""

import argparse
import json
import subprocess
import sys

from .environment import LocalEnvironment
from .processes import ServerError
from .stack import EngineError


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/localenv", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "preview", "pulumi"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="for `pulumi`: the pulumi command line")
    options = parser.parse_args()
    env = LocalEnvironment()
    if options.command == "up":
        already = env.running()
        try:
            result = env.up()
        except (ServerError, EngineError) as error:
            print(f"localenv: {error}", file=sys.stderr)
            return 1
        timings = env.state()["timings"]
        print(("already running" if already else f"up in {timings['up']}s (control plane {timings['control_plane']}s, "
               f"pulumi up {timings['pulumi_up']}s)") + f"; {env.env_file}", file=sys.stderr)
        print(json.dumps({k: v for k, v in result.items() if k not in ("admin", "users")}, indent=2))
        return 0
    if options.command == "down":
        env.down()
        print("down: every process stopped", file=sys.stderr)
        return 0
    if options.command == "status":
        print("running" if env.running() else "not running")
        return 0 if env.running() else 3
    if not env.running():
        print("localenv: not running; start it with scripts/localenv up", file=sys.stderr)
        return 3
    stack = env.stack()
    args = ["preview", "--expect-no-changes", "--non-interactive"] if options.command == "preview" else options.args
    return subprocess.run(stack.command(args), cwd=stack.state_dir.parent, env=stack.environment()).returncode


if __name__ == "__main__":
    sys.exit(main())
