"""Server-side search of ids for the pickers: a million customers never become selectbox options."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_MATCHES = 50
CHUNK = 131_072  # ids scanned per step: a common query stops after the first chunk


class IdSearch:
    """Ids in a fixed order (e.g. busiest first) with an optional group per id (e.g. the segment)."""

    def __init__(self, ids: np.ndarray, groups: np.ndarray | None = None) -> None:
        self.ids = np.asarray(ids, dtype=object)
        # lower-cased once: a plain substring match is several times faster than ignore_case's regex
        self.lower = pc.utf8_lower(pa.array(self.ids, type=pa.large_string()))
        self.groups = None if groups is None else np.asarray(groups)

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, query: str = "", group=None, limit: int = MAX_MATCHES) -> list[str]:
        """Up to `limit` ids containing `query` (case-insensitive; an exact id comes first), in the
        stored order, of `group` only when one is given."""
        query = (query or "").strip().lower()
        out: list[str] = []
        for lo in range(0, len(self.ids), CHUNK):  # chunks of ids, stopping once there are enough
            hit = np.ones(min(CHUNK, len(self.ids) - lo), dtype=bool)
            if group is not None and self.groups is not None:
                hit &= self.groups[lo:lo + CHUNK] == group
            if query:
                found = pc.match_substring(self.lower[lo:lo + CHUNK], query)
                hit &= found.to_numpy(zero_copy_only=False)
            out.extend(self.ids[lo:lo + CHUNK][hit][:limit - len(out)].tolist())
            if len(out) >= limit:
                break
        exact = [i for i in out if i.lower() == query]
        if query and not exact:
            # an exact id beyond the first `limit` matches (ids that contain others): still listed first
            pos = np.flatnonzero(pc.equal(self.lower, query).to_numpy(zero_copy_only=False))
            if len(pos) and (group is None or self.groups is None or self.groups[pos[0]] == group):
                exact = [self.ids[pos[0]]]
        return (exact + [i for i in out if i not in exact])[:limit]
