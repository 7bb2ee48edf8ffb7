"""Pulumi dynamic providers for what pulumi-keycloak cannot manage (the docker-v2 client, the admin login, the realm's
own attributes, user passwords) and the storage guard. Stacks' state names these modules: moving one needs a shim."""
