"""recsys: product recommendations from point-of-sale data.

    from recsys import load_transactions, train, Recommender, TuningConfig
"""
__version__ = "0.1.0"

from recsys.config import TuningConfig  # noqa: E402
from recsys.data import clean_transactions, load_transactions  # noqa: E402
from recsys.service import Recommender  # noqa: E402
from recsys.training import train  # noqa: E402

__all__ = ["Recommender", "TuningConfig", "clean_transactions", "load_transactions", "train", "__version__"]
