"""Lines that are not products, told by their name or by the shape of their code.

A store's export carries priced lines that no customer chose to buy: postage and carriage, fees
and bank charges, deposits and bottle returns, carrier bags, gift cards and vouchers, discounts
and coupons, manual adjustments. Recommending them is wrong, and they swamp what is "popular" or
"bought together" because they sit on many baskets. Two rules find them, on the distinct items
only (never a pass per line):

- **By name**: the item's name (and its code) against `PATTERNS`, a curated list per kind in
  English, Spanish, German, French and Chinese (plus a few Italian, Dutch and Portuguese words).
  Case-insensitive, accents ignored ('envio' = 'envío', 'gebuhr' = 'gebühr'), `-`, `_`, `/` and
  `.` read as spaces, and whole words only: 'porto' is postage but 'Portobello mushrooms' is not.
  Chinese has no spaces between words, so its patterns match anywhere in the name. A few
  words that also name products match only as the whole name (`WHOLE_NAME`: 'Manual' is an
  adjustment, 'Manual can opener' a product; 'Carriage' is postage, 'Baby carriage' a product;
  'Porto' is postage, 'Porto Tawny' a wine). Words that name products in some language are left
  out on purpose: French 'frais' (fresh) and 'réduction' ('noise reduction'), English 'caution',
  'courier' and 'bag' alone (lunch bags and jumbo bags are products), German 'Tüte' and
  'Korrektur' (correction tape), Spanish 'ajuste' ('ajuste slim') and 'casco' (a helmet),
  Chinese 调整 (可调整, adjustable) and 优惠 (优惠装, a value pack).
- **By shape**: a code without a single digit ('POST', 'DOT', 'BANK CHARGES') in a catalogue
  whose codes nearly all have digits (at least `NUMERIC_CATALOGUE` of at least
  `MIN_CODES_FOR_SHAPE` codes): the till's keys for non-products, not articles.

What is found is excluded by default and reported with its evidence (`!id` in the exclusion list
keeps an item that is a product after all)."""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

KINDS = {
    "postage": "postage and carriage",
    "fee": "fees and charges",
    "deposit": "deposits and bottle returns",
    "bag": "carrier bags",
    "gift_card": "gift cards and vouchers",
    "discount": "discounts and coupons",
    "adjustment": "manual adjustments",
    "code_shape": "codes unlike the store's products",
}
LANGUAGES = {"en": "English", "es": "Spanish", "de": "German", "fr": "French", "zh": "Chinese",
             "it": "Italian", "nl": "Dutch", "pt": "Portuguese"}

# kind -> language -> words and phrases (written as a person would; normalised when compiled)
PATTERNS: dict[str, dict[str, tuple[str, ...]]] = {
    "postage": {
        "en": ("postage", "shipping", "shipping charge", "shipping cost", "delivery charge",
               "delivery fee", "delivery cost", "freight", "p&p", "postage and packing",
               "post and packaging", "handling charge"),
        "es": ("gastos de envío", "envío", "coste de envío", "portes", "transporte y envío", "mensajería"),
        "de": ("versand", "versandkosten", "versandkostenpauschale", "fracht", "frachtkosten",
               "lieferkosten", "zustellgebühr", "verpackung und versand"),
        "fr": ("frais de port", "frais d'envoi", "frais de livraison", "frais d'expédition", "livraison",
               "port et emballage", "expédition"),
        "zh": ("运费", "邮费", "快递费", "配送费", "运输费", "邮资"),
        "it": ("spese di spedizione", "spedizione"),
        "nl": ("verzendkosten", "bezorgkosten"),
        "pt": ("frete", "portes de envio"),
    },
    "fee": {
        "en": ("fee", "fees", "service charge", "bank charge", "bank charges", "surcharge", "commission",
               "card charge", "card fee", "transaction charge", "processing charge", "admin charge",
               "booking fee", "amazon fee", "marketplace fee", "paypal fee"),
        "es": ("comisión", "comisiones", "cargo por servicio", "recargo", "gastos bancarios"),
        "de": ("gebühr", "gebühren", "gebuehr", "bankgebühr", "bankgebühren", "servicegebühr", "zuschlag",
               "bearbeitungsgebühr"),
        "fr": ("frais de service", "frais bancaires", "frais de dossier", "frais de gestion",
               "frais de traitement", "frais de transaction", "commission"),
        "zh": ("手续费", "服务费", "银行手续费", "佣金", "平台费"),
        "it": ("commissione", "commissioni", "spese bancarie"),
        "nl": ("servicekosten", "transactiekosten"),
        "pt": ("taxa de serviço", "tarifa bancária"),
    },
    "deposit": {
        "en": ("deposit", "bottle deposit", "container deposit", "bottle return", "bottle refund",
               "crate deposit", "empties"),
        "es": ("depósito de envase", "envase retornable", "retorno de envases", "fianza"),
        "de": ("pfand", "flaschenpfand", "leergut", "mehrwegpfand", "einwegpfand", "kistenpfand"),
        "fr": ("consigne", "consigne bouteille", "retour de bouteilles"),
        "zh": ("押金", "瓶押金", "回收瓶"),
        "it": ("vuoto a rendere", "cauzione"),
        "nl": ("statiegeld",),
        "pt": ("depósito de garrafa", "vasilhame"),
    },
    "bag": {
        "en": ("carrier bag", "carrier bags", "bag charge", "bag levy", "bag fee", "bag tax"),
        "es": ("bolsa de plástico", "bolsa de caja", "cargo por bolsa"),
        "de": ("tragetasche", "tragetüte", "plastiktüte"),
        "fr": ("sac de caisse", "sac plastique"),
        "zh": ("购物袋",),
        "it": ("sacchetto",),
        "nl": ("draagtas", "plastic tas"),
        "pt": ("saco de plástico", "sacola"),
    },
    "gift_card": {
        "en": ("gift card", "gift voucher", "gift certificate", "voucher", "e-gift card", "store credit"),
        "es": ("tarjeta regalo", "tarjeta de regalo", "vale regalo", "cheque regalo", "bono regalo"),
        "de": ("gutschein", "geschenkgutschein", "geschenkkarte", "wertgutschein"),
        "fr": ("carte cadeau", "bon d'achat", "chèque cadeau", "bon cadeau"),
        "zh": ("礼品卡", "礼券", "购物卡", "代金券", "储值卡"),
        "it": ("buono regalo", "carta regalo"),
        "nl": ("cadeaubon", "cadeaukaart"),
        "pt": ("cartão presente", "vale presente"),
    },
    "discount": {
        "en": ("discount", "coupon", "promo code", "promotion code", "rebate", "price reduction"),
        "es": ("descuento", "cupón", "rebaja", "bonificación"),
        "de": ("rabatt", "nachlass", "preisnachlass", "skonto", "gutschrift"),
        "fr": ("remise", "rabais", "bon de réduction", "ristourne"),
        "zh": ("折扣", "优惠券", "减免", "抵扣", "满减"),
        "it": ("sconto", "buono sconto"),
        "nl": ("korting", "kortingsbon"),
        "pt": ("desconto", "cupom"),
    },
    "adjustment": {
        "en": ("adjustment", "adjust bad debt", "bad debt", "write off", "manual adjustment",
               "price adjustment", "stock adjustment"),
        "es": ("ajuste manual", "corrección", "regularización"),
        "de": ("korrekturbuchung", "anpassung", "berichtigung", "manuelle buchung"),
        "fr": ("ajustement", "régularisation", "correction manuelle"),
        "zh": ("手工调整", "更正", "冲账", "坏账"),
        "it": ("rettifica", "storno"),
        "nl": ("correctie", "aanpassing"),
        "pt": ("ajuste manual", "estorno"),
    },
}
# English words that name products too: they say "non-product" only as the whole name
WHOLE_NAME: dict[str, tuple[str, str]] = {  # phrase -> (kind, language)
    "manual": ("adjustment", "en"), "misc": ("adjustment", "en"), "miscellaneous": ("adjustment", "en"),
    "sample": ("adjustment", "en"), "samples": ("adjustment", "en"), "post": ("postage", "en"),
    "carriage": ("postage", "en"), "next day carriage": ("postage", "en"), "porto": ("postage", "de"),
}

NUMERIC_CATALOGUE = 0.95   # share of codes with a digit above which a code without one stands out
MIN_CODES_FOR_SHAPE = 20
_SEPARATORS = re.compile(r"[\s_\-/.,;:()\[\]]+")


def normalise_name(text: str) -> str:
    """Lower case, accents dropped, separators as single spaces."""
    decomposed = unicodedata.normalize("NFKD", str(text).lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub(" ", plain).strip()


def _is_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def _compiled() -> tuple[re.Pattern, re.Pattern, dict[str, tuple[str, str, str]]]:
    """(words regex, whole-name regex, normalised phrase -> (kind, language, phrase as written))."""
    lookup: dict[str, tuple[str, str, str]] = {}
    for kind, by_language in PATTERNS.items():
        for language, phrases in by_language.items():
            for phrase in phrases:
                lookup.setdefault(normalise_name(phrase), (kind, language, phrase))
    spaced = sorted((p for p in lookup if not _is_cjk(p)), key=len, reverse=True)  # longest phrase wins
    cjk = sorted((p for p in lookup if _is_cjk(p)), key=len, reverse=True)
    words = r"(?<!\w)(" + "|".join(map(re.escape, spaced)) + r")(?!\w)"
    if cjk:
        words += "|(" + "|".join(map(re.escape, cjk)) + ")"
    whole = {normalise_name(p): (kind, language, p) for p, (kind, language) in WHOLE_NAME.items()}
    lookup.update(whole)
    return re.compile(words), re.compile("^(" + "|".join(map(re.escape, whole)) + ")$"), lookup


_WORDS, _WHOLE, _LOOKUP = _compiled()


def _normalised(texts: pd.Series) -> pd.Series:
    """`normalise_name` of every text, with vectorised string operations."""
    decomposed = texts.fillna("").astype(str).str.lower().str.normalize("NFKD")
    plain = decomposed.str.replace(r"[\u0300-\u036f]", "", regex=True)
    return plain.str.replace(_SEPARATORS.pattern, " ", regex=True).str.strip()


def _match_names(texts: pd.Series) -> pd.Series:
    """The normalised phrase each text matches (NaN where none); texts without a letter (most
    codes) are not searched."""
    out = pd.Series(np.nan, index=texts.index, dtype=object)
    has_letter = texts.fillna("").astype(str).str.contains(r"[^\W\d_]", regex=True).to_numpy(bool)
    if not has_letter.any():
        return out
    normal = _normalised(texts[has_letter])
    whole = normal.str.extract(_WHOLE, expand=False)
    found = normal.str.extract(_WORDS)
    hit = found[0].fillna(found[1]) if found.shape[1] > 1 else found[0]
    out[has_letter] = whole.fillna(hit)
    return out


def non_product_items(item_ids: pd.Index, names: pd.Series | None = None) -> pd.DataFrame:
    """One row per item that is not a product by its name or the shape of its code: position (in
    `item_ids`), item_id, kind, rule ('name' | 'shape') and evidence. `names`: one per item id
    ('' where unknown), or None when the data has no names."""
    columns = ["position", "item_id", "kind", "rule", "evidence"]
    ids = pd.Series(np.asarray(item_ids, dtype=object), dtype=object).astype(str)
    if ids.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    by_name = _match_names(names.reset_index(drop=True)) if names is not None else pd.Series(np.nan, index=ids.index)
    by_code = _match_names(ids)
    for source, matched in (("name", by_name), ("code", by_code)):
        for pos in np.flatnonzero(matched.notna().to_numpy()):
            kind, language, phrase = _LOOKUP[matched.iloc[pos]]
            shown = names.iloc[pos] if source == "name" else ids.iloc[pos]
            rows.append((int(pos), ids.iloc[pos], kind, "name",
                         f"{source} '{shown}' says {KINDS[kind]} ({LANGUAGES[language]} '{phrase}')"))
    rows += _shape_rows(ids)
    out = pd.DataFrame(rows, columns=columns).drop_duplicates("position", keep="first")
    return out.sort_values("position").reset_index(drop=True)


def _shape_rows(ids: pd.Series) -> list[tuple]:
    """Codes without a digit in a catalogue whose codes nearly all have digits."""
    has_digit = ids.str.contains(r"\d", regex=True).to_numpy(bool)
    share = float(has_digit.mean())
    if len(ids) < MIN_CODES_FOR_SHAPE or share < NUMERIC_CATALOGUE:
        return []
    letters = ~has_digit & ids.str.contains(r"[^\W\d_]", regex=True).to_numpy(bool)
    return [(int(pos), ids.iloc[pos], "code_shape", "shape",
             f"code '{ids.iloc[pos]}' has no digit, while {share:.1%} of the store's {len(ids):,} codes have digits")
            for pos in np.flatnonzero(letters)]
