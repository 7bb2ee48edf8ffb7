"""Generated credentials: pulumi-random keeps them stable across updates, Output.secret keeps them encrypted."""

import pulumi
import pulumi_random as random


def generated_password(name: str, parent: pulumi.Resource, length: int = 32,
                       rotation: str = "") -> pulumi.Output[str]:
    """A random alphanumeric password (safe in env vars, URLs and YAML), secret wherever it flows. A ``rotation``
    value is a keeper: changing it generates a new password (none given: no keeper, as before there were any)."""
    password = random.RandomPassword(name, length=length, special=False,
                                     keepers={"rotation": rotation} if rotation else None,
                                     opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(password.result)
