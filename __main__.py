"""keycloak-registry: read the settings, build the platform, export its outputs."""

import pulumi

from components.platform import Platform
from settings import settings_from_pulumi

platform = Platform("keycloak-registry", settings_from_pulumi())
for output_name, value in platform.outputs.items():
    pulumi.export(output_name, value)
