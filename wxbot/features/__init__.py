"""Features plug into the router as their own modules; each exposes ``register(services)``."""
