"""Package data of room (installed as room.conf); see setup.py."""
