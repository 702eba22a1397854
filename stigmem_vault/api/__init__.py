"""The one Python API every front end calls."""
