"""Use cases shared by the portal, the admin API, the CLI and the gateway runtime."""
