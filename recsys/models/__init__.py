"""The models: each configured in its constructor, fitted once on the encoded store
(`TrainingData`), then asked for candidates and scores of a batch of users (`UserBatch`); none of
them knows about blending or re-ranking."""
from recsys.models.als import ALSModel
from recsys.models.base import DAY_KEY, PAD, BatchCache, Scorer, UserBatch
from recsys.models.data import TrainingData
from recsys.models.item_cf import ItemCFModel
from recsys.models.neighbours import NeighbourModel
from recsys.models.popularity import PopularityModel
from recsys.models.repeat import RepeatModel

__all__ = ["ALSModel", "BatchCache", "DAY_KEY", "ItemCFModel", "NeighbourModel", "PAD", "PopularityModel", "RepeatModel", "Scorer",
           "TrainingData", "UserBatch"]
