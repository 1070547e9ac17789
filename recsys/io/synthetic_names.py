"""Names and categories for the synthetic store's products: a newcomer's first screens show
"Organic yoghurt 500 g · Dairy", not only codes. Deterministic (a generator of its own, seeded
from the store's seed: the store's other columns are the same with or without names), and no
name reads as a non-product (`recsys.io.non_products`; tests/test_synthetic.py checks it)."""
from __future__ import annotations

import numpy as np

WEIGHTS, VOLUMES, PACKS = ("150 g", "250 g", "400 g", "500 g", "1 kg"), ("330 ml", "500 ml", "1 l", "1.5 l", "2 l"), \
    ("2 pack", "4 pack", "6 pack", "10 pack", "24 pack")
AISLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (  # name, nouns, sizes
    ("Dairy", ("milk", "yoghurt", "butter", "cheddar", "cream", "kefir", "skyr", "mozzarella"), ("250 g", "500 g", "1 l")),
    ("Bakery", ("bread", "baguette", "croissants", "rolls", "bagels", "brioche", "rye loaf", "muffins"), WEIGHTS),
    ("Fruit", ("apples", "bananas", "pears", "grapes", "oranges", "plums", "mango", "blueberries"), WEIGHTS),
    ("Vegetables", ("carrots", "tomatoes", "potatoes", "onions", "peppers", "spinach", "broccoli", "courgettes"),
     WEIGHTS),
    ("Meat", ("chicken breast", "beef mince", "pork chops", "sausages", "bacon", "lamb steaks", "ham", "turkey"),
     WEIGHTS),
    ("Fish", ("salmon", "cod", "tuna", "prawns", "mackerel", "sardines", "haddock", "trout"), WEIGHTS),
    ("Drinks", ("orange juice", "apple juice", "sparkling water", "cola", "lemonade", "iced tea", "still water",
                "smoothie"), VOLUMES),
    ("Coffee and tea", ("ground coffee", "coffee beans", "green tea", "black tea", "herbal tea", "instant coffee",
                        "chai", "espresso capsules"), ("100 g", "250 g", "500 g", "20 pack", "40 pack")),
    ("Snacks", ("crisps", "pretzels", "popcorn", "cashews", "crackers", "rice cakes", "trail mix", "tortilla chips"),
     WEIGHTS),
    ("Sweets", ("chocolate", "biscuits", "gummies", "toffee", "cookies", "wafers", "fudge", "marshmallows"), WEIGHTS),
    ("Pantry", ("pasta", "rice", "flour", "olive oil", "lentils", "oats", "sugar", "chickpeas"), WEIGHTS),
    ("Frozen", ("peas", "pizza", "ice cream", "fish fingers", "oven chips", "mixed berries", "spinach cubes",
                "dumplings"), WEIGHTS),
    ("Household", ("washing-up liquid", "kitchen roll", "bin liners", "sponges", "laundry gel", "toilet roll",
                   "cling film", "dishwasher tablets"), PACKS),
    ("Personal care", ("shampoo", "toothpaste", "shower gel", "soap", "hand cream", "conditioner", "razors",
                       "cotton pads"), ("75 ml", "250 ml", "400 ml", "2 pack", "4 pack")),
    ("Baby", ("nappies", "baby wipes", "baby porridge", "infant formula", "baby lotion", "bibs", "rusks",
              "fruit pouches"), PACKS),
    ("Pets", ("dog food", "cat food", "cat litter", "dog treats", "bird seed", "fish flakes", "chew sticks",
              "kitten food"), WEIGHTS),
)
STYLES = ("Organic", "Classic", "Fresh", "Premium", "Everyday", "Farmhouse", "Family", "Light", "Original",
          "Wholesome", "Gourmet", "Simply")
VARIANTS = ("", " (specialty)", " (local)", " (international)", " (seasonal)")
NON_PRODUCT_NAMES = {"200": ("Carrier bag", "Till"), "OPEN DEPT": ("Open department", "Till")}


def category_names(n_clusters: int) -> np.ndarray:
    """A category name per taste cluster: the aisles, then their variants."""
    names = [AISLES[c % len(AISLES)][0] + VARIANTS[(c // len(AISLES)) % len(VARIANTS)]
             + (f" {c // (len(AISLES) * len(VARIANTS)) + 1}" if c >= len(AISLES) * len(VARIANTS) else "")
             for c in range(n_clusters)]
    return np.asarray(names, dtype=object)


def product_names(cluster: np.ndarray, seed: int) -> np.ndarray:
    """A name per product: a style, a noun of its cluster's aisle and a size."""
    rng = np.random.default_rng([seed, 0x4E414D45])  # "NAME": the store's own generator is untouched
    n = len(cluster)
    aisle = cluster % len(AISLES)
    nouns = np.array([noun for _, words, _ in AISLES for noun in words], dtype=object)
    per_aisle = len(AISLES[0][1])
    noun = nouns[aisle * per_aisle + rng.integers(per_aisle, size=n)]
    style = np.asarray(STYLES, dtype=object)[rng.integers(len(STYLES), size=n)]
    counts = np.array([len(sizes) for _, _, sizes in AISLES])
    table = np.array([list(sizes) + [""] * (counts.max() - len(sizes)) for _, _, sizes in AISLES], dtype=object)
    size = table[aisle, (rng.random(n) * counts[aisle]).astype(np.int64)]
    return style + " " + noun + " " + size


def non_product_name(item_id: str) -> tuple[str, str]:
    """(name, category) of the till's non-product codes ('200', 'OPEN DEPT 101')."""
    for prefix, (name, category) in NON_PRODUCT_NAMES.items():
        if item_id.startswith(prefix):
            return (name + item_id[len(prefix):], category)
    return ("", "")
