"""Device plugins bundled with specgate."""
