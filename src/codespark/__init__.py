"""codespark: a local-first, real-time coding system."""
__version__ = "0.1.0"
