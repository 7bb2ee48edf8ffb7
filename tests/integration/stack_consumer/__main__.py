"""What a consuming project does: read the registry stack's outputs through a StackReference; a robot's password,
as a CI project would give it to its runners, stays a secret in this stack too."""

import pulumi

registry = pulumi.StackReference(pulumi.Config().require("registryStack"))
for name in ("registryUrl", "tokenRealm", "tokenService", "tokenIssuer", "repositoryAccess"):
    pulumi.export(name, registry.get_output(name))
robot_passwords = registry.require_output("robotPasswords")
pulumi.export("ciPullPassword", robot_passwords.apply(lambda passwords: passwords["ci-pull"]))
