"""The daily trainer of learned (ML) behaviors in self-hosted mode."""
