"""Every knob of the recommender in one typed config, with TOML round-trip.

Training-time knobs (signals, segments, ALS, item-CF, neighbours, the ranker's learning) need a
retrain to take effect; request-time knobs (weights, repeat, rerank, popularity weights,
candidates, `ranker.use`) apply at once.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

SEGMENTS = ("small", "low_average", "average", "high")
RANKER_POLICIES = ("auto", "always", "never")
MODELS = ("als", "item_cf", "popularity", "repeat", "neighbours", "hybrid")


def check_model(model: str) -> str:
    """The model name, or a ValueError that lists the ones there are."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    return model


def check_segment(segment: str | None) -> str | None:
    """The segment name (or None), or a ValueError that lists the ones there are."""
    if segment is not None and segment not in SEGMENTS:
        raise ValueError(f"unknown segment {segment!r}; choose one of {', '.join(SEGMENTS)}")
    return segment


def check_price_range(price_min: float | None, price_max: float | None) -> None:
    """ValueError when the range is empty (its minimum above its maximum)."""
    if price_min is not None and price_max is not None and price_min > price_max:
        raise ValueError(f"price_min {price_min} is above price_max {price_max}")


@dataclass
class SignalConfig:
    """How a sales line becomes an implicit-feedback confidence weight."""

    spending_weight: float = 0.5   # weight of item_price / user_avg_item_price
    quantity_weight: float = 0.5   # weight of units / item_avg_units
    clip_min: float = 0.1
    clip_max: float = 5.0
    log_transform: bool = True     # ALS/item-CF see log1p(sum of line weights)


@dataclass
class SegmentConfig:
    """Spending segments by percentile of the users' average item price."""

    thresholds: tuple[float, float, float] = (0.25, 0.50, 0.75)
    price_cap_quantile: float = 0.99  # segment filter: drop items above this quantile of the segment's prices


@dataclass
class PopularityConfig:
    """The weighted popularity score shown to analysts, and how the popularity model uses it."""

    purchase_weight: float = 0.4
    buyers_weight: float = 0.4
    quantity_weight: float = 0.2
    model_by: str = "buyers"        # the popularity model ranks by: "buyers" (distinct) or "weighted"
    segment_share: float = 0.0      # blend of the user's segment popularity into the overall one


@dataclass
class ALSConfig:
    factors: int = 128
    # 5, not 15 (`python -m benchmarks.als_settings --size M --configs 128x15 128x8 128x5`): on M's
    # validation window ALS alone scored NDCG@10 0.2203 / 0.2046 / 0.0946 (loyal / newcomers /
    # new-to-user) at 15 iterations, 0.2200 / 0.2042 / 0.0936 at 8, 0.2213 / 0.2050 / 0.0921 at 5; the
    # fitted hybrid 0.3592 / 0.3220 / 0.1281, 0.3593 / 0.3209 / 0.1270, 0.3595 / 0.3212 / 0.1291; ALS
    # CPU 28.2 s, 16.0 s, 9.8 s
    iterations: int = 5
    regularization: float = 1.0
    alpha: float = 1.0
    random_state: int = 42


@dataclass
class ItemCFConfig:
    top_k: int = 100            # neighbours kept per item
    shrinkage: float = 5.0      # damps similarities built on few co-purchases
    block_size: int = 2048      # items per block when computing the co-occurrence (memory bound)


@dataclass
class NeighbourConfig:
    """Customer neighbours (TIFU-KNN): time-decayed basket vectors and the k most similar customers."""

    k: int = 300                    # neighbours averaged
    alpha: float = 0.1              # weight of the customer's own vector (the rest: the neighbours')
    group_size: int = 11            # baskets per group, counted from the latest
    within_decay: float = 0.9       # decay of a basket's weight by its age inside its group
    group_decay: float = 0.9        # decay of a group's weight by its age
    reference_users: int = 20_000   # customers a request is compared with (a fixed sample on big stores)


@dataclass
class RankerConfig:
    """The learned ranker: a LightGBM lambdarank over per-candidate features, trained on two
    validation windows cut from the training data (training time), used for hybrid lists where
    it beat the fitted blend on the later window (`use`: request time, off = the blend)."""

    enabled: bool = True            # training: learn it (else the fitted blend serves every list)
    policy: str = "auto"            # training: "auto" (where it beats the blend), "always", "never"
    users_per_window: int = 1500    # training: customers per window and list kind it learns from
    min_users: int = 200            # training: fewer validation customers than this: no ranker (too noisy)
    nominated: int = 50             # training: a row when a source ranks the candidate this high (or a past item)
    rounds: int = 150               # training: boosting rounds at most (early stopping on the later window)
    features: str = "all"           # training: "all" or "scores" (the sources' scores and ranks only)
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 100
    # training: may it serve discovery lists (exclude purchased)? Off: on Ta Feng its new-to-the-customer
    # lists won on the later validation window (+0.004) and lost on the next month's test (-0.025)
    discovery: bool = False
    use: bool = True                # request time: serve hybrid lists with the ranker where it was chosen


@dataclass
class RepeatConfig:
    """The 'buy again / due' signal: a learned rebuy probability, or a plain recency decay."""

    learned: bool = True            # request time: False = sum of 0.5 ** (age / half_life_days)
    half_life_days: float = 60.0    # request time, used when learned is off or cannot be learned
    horizon_days: float = 28.0      # training: "bought again within" this many days
    windows: int = 12               # training: past windows the classifier learns from
    max_users_per_window: int = 5000
    newcomer_share: float = 0.0     # training: share of sampled users also cut down to one basket


@dataclass
class CandidateConfig:
    """How many items each source puts forward per user before scoring (request time).

    A user's own past items always join the pool; each source's best item is always in it, so
    per-user normalisation over the pool equals the one over the whole catalogue."""

    als: int = 100
    item_cf: int = 200
    popularity: int = 100   # best-sellers overall, and as many of the user's segment
    neighbours: int = 100   # what the nearest customers buy (a source of the learned ranker's lists)


@dataclass
class HybridWeights:
    als: float = 0.4
    item_cf: float = 0.4
    popularity: float = 0.2
    repeat: float = 4.0   # chosen on validation windows: repeats are ~60% of what a loyal customer buys

    def as_dict(self) -> dict[str, float]:
        # read on every request: dataclasses.asdict deep-copies and costs ~15x this
        return {"als": self.als, "item_cf": self.item_cf, "popularity": self.popularity, "repeat": self.repeat}


def _newcomer_weights() -> HybridWeights:
    return HybridWeights(als=0.1, item_cf=0.1, popularity=0.6, repeat=4.0)


def _discovery_weights() -> HybridWeights:
    return HybridWeights(als=0.3, item_cf=0.3, popularity=0.4, repeat=0.0)


@dataclass
class NewcomerConfig:
    """Customers with a single shopping trip so far get their own blend: one basket says
    little about taste, so popularity carries more and collaborative scores less."""

    max_trips: int = 1
    weights: HybridWeights = field(default_factory=_newcomer_weights)


@dataclass
class RerankConfig:
    candidate_pool: int = 200
    segment_filter: bool = False     # on: no unbought item above the segment's price cap
    upsell_factor: float = 0.0       # 0 = off; boosts items priced above the user's average
    price_boost_weight: float = 0.5
    max_price_ratio: float = 3.0     # price ratios above this get no extra boost
    repurchase_exclusion: bool = False  # on: a "what to buy now" list without items bought too recently
    repurchase_buffer: float = 0.25  # exclude items bought within buffer x their cycle
    due_boost: float = 0.0           # extra multiplier for items whose cycle has come round (the learned
                                     # repeat model already weighs due-ness; this adds on top)
    budget_tolerance: float = 1.5    # x the user's average item price before the penalty starts
    price_sensitivity: float = 0.0   # 0 = off; strength of the penalty beyond the budget
    price_min: float | None = None
    price_max: float | None = None
    default_segment: str = "average"  # segment assumed for unknown users


# The ranges a person may set the request-time knobs to: (lowest, highest, step). One place for the
# dashboard's sliders and the evaluation's what-if sweeps, so a sweep never reports a value the
# slider cannot reach. Hybrid weights share one range (the blend rescales them to sum 1).
KNOB_RANGES: dict[str, tuple[float, float, float]] = {
    "upsell_factor": (0.0, 2.0, 0.05),
    "price_boost_weight": (0.0, 1.0, 0.05),
    "price_sensitivity": (0.0, 3.0, 0.1),
    "budget_tolerance": (1.0, 4.0, 0.1),
    "repurchase_buffer": (0.0, 1.0, 0.05),
    "due_boost": (0.0, 2.0, 0.05),
    "weight": (0.0, 5.0, 0.05),
}


# Knobs read only when the models are trained (sections whole, or single keys): a request-time
# config that changes one of them would silently do nothing, so it is refused (`retrain_reasons`).
TRAINING_SECTIONS = ("signals", "segments", "als", "item_cf", "neighbours")
TRAINING_KEYS = {"popularity": ("model_by", "segment_share"),
                 "repeat": ("horizon_days", "windows", "max_users_per_window", "newcomer_share"),
                 "ranker": ("enabled", "policy", "users_per_window", "min_users", "nominated", "rounds", "features",
                            "discovery",
                            "learning_rate", "num_leaves", "min_child_samples")}


@dataclass
class TuningConfig:
    signals: SignalConfig = field(default_factory=SignalConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    popularity: PopularityConfig = field(default_factory=PopularityConfig)
    als: ALSConfig = field(default_factory=ALSConfig)
    item_cf: ItemCFConfig = field(default_factory=ItemCFConfig)
    repeat: RepeatConfig = field(default_factory=RepeatConfig)
    neighbours: NeighbourConfig = field(default_factory=NeighbourConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    weights: HybridWeights = field(default_factory=HybridWeights)
    newcomers: NewcomerConfig = field(default_factory=NewcomerConfig)
    # the blend of discovery lists (exclude_purchased): the user's own items are out, so it is fitted apart
    discovery: HybridWeights = field(default_factory=_discovery_weights)
    rerank: RerankConfig = field(default_factory=RerankConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TuningConfig":
        return _build(cls, data, "")

    def to_toml(self) -> str:
        # TOML has no null: unset optional knobs are simply left out
        return tomli_w.dumps(_drop_none(self.to_dict()))

    @classmethod
    def from_toml(cls, text: str) -> "TuningConfig":
        try:
            return cls.from_dict(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"tuning config is not valid TOML: {exc}") from exc

    def overlay(self, data: dict[str, Any]) -> "TuningConfig":
        """A copy with the knobs `data` names (a partial config: sections, nested tables) set and
        every other knob kept; unknown keys are a ValueError that names them."""
        if not isinstance(data, dict):
            raise ValueError("a config must be a table of sections")
        merged = _deep_merge(self.to_dict(), data)
        return TuningConfig.from_dict(merged)

    def save(self, path: str | Path) -> None:
        from recsys.atomic import atomic_write_text

        atomic_write_text(Path(path), self.to_toml())

    @classmethod
    def load(cls, path: str | Path) -> "TuningConfig":
        return cls.from_toml(Path(path).read_text())

    def replace(self, **sections: Any) -> "TuningConfig":
        """A copy with some fields changed, e.g. replace(rerank={'upsell_factor': 0.5})."""
        data = self.to_dict()
        for name, value in sections.items():
            if isinstance(value, dict):
                data[name].update(value)
            elif dataclasses.is_dataclass(value):
                data[name] = dataclasses.asdict(value)
            else:
                raise TypeError(f"section {name!r} must be a dict or a dataclass")
        return TuningConfig.from_dict(data)

    def validate(self) -> "TuningConfig":
        for name, w in (("weights", self.weights), ("newcomers.weights", self.newcomers.weights),
                        ("discovery", self.discovery)):
            if min(w.als, w.item_cf, w.popularity, w.repeat) < 0 or w.als + w.item_cf + w.popularity + w.repeat <= 0:
                raise ValueError(f"hybrid {name} must be non-negative and not all zero")
        t = self.segments.thresholds
        if not (0 < t[0] < t[1] < t[2] < 1):
            raise ValueError(f"segment thresholds must rise strictly inside (0, 1), got {t}")
        r = self.rerank
        c = self.candidates
        if min(c.als, c.item_cf, c.popularity, c.neighbours) < 0:
            raise ValueError("candidate counts must not be negative")
        if r.candidate_pool < 1:
            raise ValueError("candidate_pool must be at least 1")
        check_price_range(r.price_min, r.price_max)
        if r.default_segment not in SEGMENTS:
            raise ValueError(f"default_segment must be one of {SEGMENTS}, got {r.default_segment!r}")
        if r.max_price_ratio <= 1:
            raise ValueError("max_price_ratio must be above 1")
        if self.ranker.features not in ("all", "scores"):
            raise ValueError(f"ranker.features must be 'all' or 'scores', got {self.ranker.features!r}")
        if self.ranker.policy not in RANKER_POLICIES:
            raise ValueError(f"ranker.policy must be one of {', '.join(RANKER_POLICIES)}, got {self.ranker.policy!r}")
        if not 0.0 <= self.neighbours.alpha <= 1.0 or self.neighbours.k < 1:
            raise ValueError("neighbours.alpha must be in [0, 1] and neighbours.k at least 1")
        return self


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Construct a (nested) dataclass from a dict, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise ValueError(f"config section '{where or 'root'}' must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown config key(s) in '{where or 'root'}': {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        default = fields[name].default_factory() if fields[name].default_factory is not dataclasses.MISSING else fields[name].default  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}".strip("."))
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"config key '{where}.{name}' must be true or false, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"config key '{where}.{name}' must be a number, got {value!r}")
            kwargs[name] = type(default)(value) if isinstance(default, float) else int(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def training_keys(config: TuningConfig) -> dict[str, Any]:
    """The training-time knobs of a config by dotted name ('als.factors': 128, ...)."""
    data = config.to_dict()
    out: dict[str, Any] = {}
    for section in TRAINING_SECTIONS:
        out.update({f"{section}.{k}": v for k, v in data[section].items()})
    for section, keys in TRAINING_KEYS.items():
        out.update({f"{section}.{k}": data[section][k] for k in keys})
    return out


def retrain_reasons(trained: TuningConfig, wanted: TuningConfig) -> list[str]:
    """What `wanted` changes among the knobs that act only at training ('als.factors: 128 -> 64'),
    against the config the models were trained with; empty when it applies at request time."""
    have, want = training_keys(trained), training_keys(wanted)
    return [f"{k}: {_shown(have[k])} -> {_shown(want[k])}" for k in have if _differ(have[k], want[k])]


def _differ(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(_differ(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-12 * max(1.0, abs(a)))
    return a != b


def _shown(v: Any) -> str:
    return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
