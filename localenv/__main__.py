"""scripts/localenv up | down | status | preview | pulumi ARGS... | restore-database [--backup FILE]"""

import argparse
import json
import subprocess
import sys

from lib.database_restore import RestoreError

from .environment import LocalEnvironment
from .processes import ServerError
from .stack import EngineError


def restore_arguments(args: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="scripts/localenv restore-database")
    parser.add_argument("--backup", default="latest", help="a dump's file name on the backup volume (default: newest)")
    return parser.parse_args(args).backup


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/localenv", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "preview", "pulumi", "restore-database"])
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="for `pulumi`: the pulumi command line; for `restore-database`: --backup FILE")
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
    if options.command == "restore-database":
        backup = restore_arguments(options.args)
        try:
            env.database_restore().run(backup)
        except RestoreError as error:
            print(f"localenv: {error}", file=sys.stderr)
            return 1
        return 0
    stack = env.stack()
    args = ["preview", "--expect-no-changes", "--non-interactive"] if options.command == "preview" else options.args
    return subprocess.run(stack.command(args), cwd=stack.state_dir.parent, env=stack.environment()).returncode


if __name__ == "__main__":
    sys.exit(main())
