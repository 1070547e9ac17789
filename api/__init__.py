"""The REST face of recsys (FastAPI): `python -m recsys serve`. Needs requirements-api.txt."""
from api.app import create_app

__all__ = ["create_app"]
