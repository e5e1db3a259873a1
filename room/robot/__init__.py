"""robot stage."""
