"""The local stack through the real Pulumi engine: the CLI from scripts/lib/pulumi-engine, a file backend and a
generated passphrase under .localenv/, the API server's kubeconfig, and no plugin downloads.

The stack's config is a copy of stacks/Pulumi.local.yaml under .localenv/ (``--config-file``), so secrets a
person or a test sets locally never touch the committed file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[1]
STACK = "local"
COMMITTED_CONFIG = ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
# Commands that read the stack's config, and so take --config-file.
CONFIG_COMMANDS = {"up", "update", "preview", "refresh", "destroy", "config", "import"}


class EngineError(RuntimeError):
    """A pulumi command failed; the message carries its output's tail."""


@dataclass(frozen=True)
class LocalStack:
    state_dir: Path
    bin_dir: Path
    kubeconfig: Path

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "stack"

    def config_file(self, stack: str = STACK) -> Path:
        return self.config_dir / f"Pulumi.{stack}.yaml"

    @property
    def passphrase_file(self) -> Path:
        return self.state_dir / "pulumi-passphrase"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{ROOT / 'venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_BACKEND_URL": f"file://{self.state_dir / 'pulumi-state'}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(self.passphrase_file),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "KUBECONFIG": str(self.kubeconfig),
        }

    def command(self, args: Sequence[str], stack: str = STACK) -> list[str]:
        """`pulumi ARGS` for a stack (default: the local stack), with its --config-file where the command reads
        config. Those flags go before a "--" in ARGS: what follows it is positional (a value that begins with -)."""
        split = args.index("--") if "--" in args else len(args)
        flags, positional = list(args[:split]), list(args[split:])
        if args and args[0] in CONFIG_COMMANDS and not any(a.startswith("--config-file") for a in flags):
            flags += ["--config-file", str(self.config_file(stack))]
        if args and args[0] not in ("version", "plugin", "login", "logout", "whoami", "about") and \
                not any(a in ("--stack", "-s") or a.startswith("--stack=") for a in flags):
            flags += ["--stack", stack]
        return [str(self.bin_dir / "pulumi"), *flags, *positional]

    def run(self, *args: str, check: bool = True, timeout: float = 1200, stack: str = STACK,
            cwd: Path = ROOT) -> subprocess.CompletedProcess:
        """Run pulumi (by default for the local stack of this project); a failure raises with the output's tail."""
        result = subprocess.run(self.command(args, stack), cwd=cwd, env=self.environment(), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            # with --json the errors are diagnostic events somewhere in the stream, not at its end
            errors = [line for line in result.stdout.splitlines() if '"severity":"error"' in line]
            raise EngineError(f"pulumi {' '.join(args)} exited {result.returncode}:\n" + "\n".join(errors)[-4000:] +
                              f"\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}")
        return result

    def init(self, stack: str = STACK, config: Optional[dict] = None, project_dir: Path = ROOT) -> None:
        """A stack in the local backend whose config file lives under .localenv/stack/: ``config`` if given,
        else (for the local stack) the committed stacks/Pulumi.local.yaml."""
        (self.state_dir / "pulumi-state").mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if not self.passphrase_file.exists():
            self.passphrase_file.write_text(secrets.token_urlsafe(24))
            self.passphrase_file.chmod(0o600)
        if config is not None:
            self.config_file(stack).write_text(yaml.safe_dump({"config": config}))
        elif not self.config_file(stack).exists():
            shutil.copyfile(COMMITTED_CONFIG, self.config_file(stack))
        # `stack init` saves the passphrase salt into the project's stack file and has no --config-file:
        # run it from a copy of Pulumi.yaml whose stackConfigDir is ours, so committed files stay untouched.
        scratch = self.state_dir / "stack-init" / stack
        scratch.mkdir(parents=True, exist_ok=True)
        project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
        project["stackConfigDir"] = os.path.relpath(self.config_dir, scratch)
        (scratch / "Pulumi.yaml").write_text(yaml.safe_dump(project))
        self.run("stack", "init", "--secrets-provider", "passphrase", "--no-select", stack=stack, cwd=scratch)

    def remove(self, stack: str, project_dir: Path = ROOT) -> None:
        self.run("stack", "rm", "--yes", "--force", stack=stack, cwd=project_dir)
        self.config_file(stack).unlink(missing_ok=True)

    def up(self, *flags: str) -> subprocess.CompletedProcess:
        return self.run("up", "--yes", "--skip-preview", "--non-interactive", *flags)

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout or "{}")
