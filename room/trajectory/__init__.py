"""trajectory stage."""
