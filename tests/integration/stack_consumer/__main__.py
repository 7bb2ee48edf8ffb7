"""What a consuming project does: read the registry stack's outputs through a StackReference."""

import pulumi

registry = pulumi.StackReference(pulumi.Config().require("registryStack"))
for name in ("registryUrl", "tokenRealm", "tokenService", "tokenIssuer", "repositoryAccess"):
    pulumi.export(name, registry.get_output(name))
