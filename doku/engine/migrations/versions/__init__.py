"""One module per schema revision (see `doku.engine.versioning.REVISIONS`)."""
