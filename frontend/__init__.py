"""Horn frontend."""
