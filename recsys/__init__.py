"""recsys: product recommendations from point-of-sale data."""
__version__ = "0.1.0"
