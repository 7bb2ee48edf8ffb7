"""Pulumi components of keycloak-registry, one module per concern; settings.py is the only config reader."""
