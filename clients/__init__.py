"""What a registry user's tools do, for the integration tests and the benchmark alike: write an OCI image layout,
drive skopeo, ask Keycloak's docker-v2 endpoint for a token."""
