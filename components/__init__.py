"""Pulumi ComponentResources of keycloak-registry, one module per concern. Settings come from settings/, shared
helpers from lib/, dynamic providers from providers/ (the modules here named after them are import shims)."""
