"""Horn passes."""
