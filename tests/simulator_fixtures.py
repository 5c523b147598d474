"""Pytest fixtures that start the project's own DOKU simulator on a free loopback port."""
