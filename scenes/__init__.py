"""Package data of room (installed as room.scenes); see setup.py."""
