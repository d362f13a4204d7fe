"""Horn runtime."""
