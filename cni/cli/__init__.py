"""The `pynet` admin command."""
