"""The library's version (written into every bundle's metadata)."""
__version__ = "0.2.0"
