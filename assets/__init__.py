"""Package data of room (installed as room.assets); see setup.py."""
