"""pynet: container networking in Python (CNI plugins, runtime and admin CLI)."""

__version__ = "0.1.0"
