"""The Python API for analysts (filled in by the API work)."""
