"""Candidate scorers. Each is configured in its constructor, learns in `fit`, and scores a
batch of users into a dense (batch, n_items) array; none of them knows about re-ranking."""
from recsys.models.als import ALSModel
from recsys.models.base import Scorer, UserBatch
from recsys.models.item_cf import ItemCFModel
from recsys.models.popularity import PopularityModel
from recsys.models.repeat import RepeatModel

__all__ = ["ALSModel", "ItemCFModel", "PopularityModel", "RepeatModel", "Scorer", "UserBatch"]
