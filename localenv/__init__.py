"""The system as real local processes (MariaDB, Keycloak, both registry lines) for trying it without a cluster."""
