"""What components and providers share: Kubernetes building blocks, the Keycloak admin client, the extension's jar
and generated passwords. Nothing here registers a ComponentResource."""
