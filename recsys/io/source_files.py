"""What an analyst decides about one data file, kept next to it so a retrain reuses it.

- `<file>.mapping.toml`: the column mapping (`[columns]` source header = canonical name), the
  date order (`dates = "monthfirst"`), the sheet of a workbook (`sheet = "Sales"`) and an optional
  catalogue (`catalogue = "products.csv"`, relative to the mapping file, with its own
  `[catalogue_columns]`).
- `<file>.exclude.txt`: item ids left out of training, one a line; `!id` keeps an item that the
  cleaning would exclude as a suspect non-product line (like `.gitignore`); `#` starts a comment.

`--columns` on the command line takes `A=timestamp,B=user_id` or the path of such a TOML file.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import tomli_w

from recsys.atomic import atomic_write_text
from recsys.errors import DataError
from recsys.io.dates import check_order

MAPPING_SUFFIX = ".mapping.toml"
EXCLUDE_SUFFIX = ".exclude.txt"
KEEP_PREFIX = "!"


@dataclass(frozen=True)
class SourceMapping:
    """How to read one data file: column mapping, date order, sheet, catalogue."""

    columns: dict[str, str] = field(default_factory=dict)   # source header -> canonical column
    dates: str = "auto"
    catalogue: str | None = None                            # path, relative to the mapping file
    catalogue_columns: dict[str, str] = field(default_factory=dict)
    sheet: str | None = None                                # the sheet of a workbook to read

    def catalogue_path(self, folder: Path) -> Path | None:
        """The catalogue file, resolved against the folder of the mapping file."""
        if not self.catalogue:
            return None
        path = Path(self.catalogue).expanduser()
        return path if path.is_absolute() else Path(folder) / path

    def to_toml(self) -> str:
        """The mapping as the TOML of a `.mapping.toml` file."""
        body: dict = {"dates": self.dates}
        if self.sheet:
            body["sheet"] = self.sheet
        if self.catalogue:
            body["catalogue"] = self.catalogue
        body["columns"] = dict(self.columns)
        if self.catalogue_columns:
            body["catalogue_columns"] = dict(self.catalogue_columns)
        head = "# How to read the data file next to this one (written by recsys; edit freely).\n"
        return head + tomli_w.dumps(body)


def mapping_path(data_path: str | Path) -> Path:
    """`<file>.mapping.toml` beside the data file."""
    data_path = Path(data_path)
    return data_path.with_name(data_path.name + MAPPING_SUFFIX)


def exclusions_path(data_path: str | Path) -> Path:
    """`<file>.exclude.txt` beside the data file."""
    data_path = Path(data_path)
    return data_path.with_name(data_path.name + EXCLUDE_SUFFIX)


def parse_columns_option(value: str) -> SourceMapping:
    """`A=timestamp,B=user_id` or the path of a mapping TOML file; DataError when malformed."""
    text = value.strip()
    if text.lower().endswith(".toml"):
        return read_mapping(Path(text))
    columns: dict[str, str] = {}
    for n, part in enumerate(p for p in text.split(",") if p.strip()):
        source, sep, target = part.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise DataError(f"--columns: item {n + 1} ({part.strip()!r}) is not SOURCE=target; "
                            "write e.g. TRANSACTION_DT=timestamp,CUSTOMER_ID=user_id")
        columns[source.strip()] = target.strip()
    if not columns:
        raise DataError("--columns is empty; write e.g. TRANSACTION_DT=timestamp,CUSTOMER_ID=user_id")
    return SourceMapping(columns=columns)


def read_mapping(path: Path) -> SourceMapping:
    """A mapping TOML file; DataError naming the file and the key for anything malformed."""
    name = Path(path).name
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"mapping file not found: {path}", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the mapping file ({exc})", file=name) from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML ({exc})", file=name) from None
    known = {"columns", "dates", "catalogue", "catalogue_columns", "sheet"}
    # a flat file of `HEADER = "target"` lines is accepted too
    flat = {k: v for k, v in raw.items() if k not in known}
    columns = {**_string_table(raw.get("columns", {}), name, "columns"), **_string_table(flat, name, "")}
    try:
        dates = check_order(raw.get("dates"))
    except ValueError as exc:
        raise DataError(str(exc), file=name, column="dates") from None
    catalogue = raw.get("catalogue")
    if catalogue is not None and not isinstance(catalogue, str):
        raise DataError("catalogue must be a file name (a string)", file=name, column="catalogue")
    sheet = raw.get("sheet")
    if sheet is not None and not isinstance(sheet, str):
        raise DataError("sheet must be the name of a sheet (a string)", file=name, column="sheet")
    return SourceMapping(columns=columns, dates=dates, catalogue=catalogue or None,
                         catalogue_columns=_string_table(raw.get("catalogue_columns", {}), name, "catalogue_columns"),
                         sheet=sheet or None)


def _string_table(table: object, file: str, key: str) -> dict[str, str]:
    """A TOML table of string values, or DataError naming the offending key."""
    if not isinstance(table, dict):
        raise DataError(f"[{key}] must be a table of HEADER = \"canonical name\"", file=file, column=key)
    out = {}
    for source, target in table.items():
        if not isinstance(target, str):
            raise DataError(f"{source} = {target!r}: the canonical name must be a string", file=file,
                            column=f"{key}.{source}" if key else str(source))
        out[str(source)] = target
    return out


def write_mapping(data_path: str | Path, mapping: SourceMapping) -> Path:
    """Save the mapping beside the data file (atomic) and return its path."""
    path = mapping_path(data_path)
    atomic_write_text(path, mapping.to_toml())
    return path


def source_mapping(data_path: str | Path) -> SourceMapping | None:
    """The saved mapping of a data file, or None when it has none."""
    path = mapping_path(data_path)
    return read_mapping(path) if path.is_file() else None


# --------------------------------------------------------------------------------------------
# Exclusions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exclusions:
    """Items to leave out of training, and suspects to keep anyway."""

    exclude: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, lines: Iterable[str]) -> "Exclusions":
        """From lines of ids: `!id` keeps, `#` comments, blanks ignored."""
        exclude, keep = set(), set()
        for line in lines:
            item = str(line).split("#", 1)[0].strip()
            if not item:
                continue
            if item.startswith(KEEP_PREFIX):
                keep.add(item[len(KEEP_PREFIX):].strip())
            else:
                exclude.add(item)
        return cls(frozenset(exclude - keep), frozenset(keep))

    @classmethod
    def read(cls, path: Path) -> "Exclusions":
        """An exclusion file; DataError naming it when unreadable."""
        try:
            return cls.parse(Path(path).read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            raise DataError(f"exclusion file not found: {path}", file=Path(path).name) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the exclusion file ({exc})", file=Path(path).name) from None

    @classmethod
    def coerce(cls, value: "Exclusions | str | Path | Iterable[str] | None") -> "Exclusions":
        """Exclusions from a file path, a list of ids (`!id` keeps) or None (nothing)."""
        if value is None:
            return cls()
        if isinstance(value, Exclusions):
            return value
        if isinstance(value, (str, Path)):
            return cls.read(Path(value))
        return cls.parse(value)

    def to_text(self) -> str:
        """The file form: excluded ids, then `!id` for the suspects kept."""
        head = ["# Items left out of training, one id a line; '!id' keeps a suspect the cleaning would drop."]
        return "\n".join(head + sorted(self.exclude) + [KEEP_PREFIX + i for i in sorted(self.keep)]) + "\n"


def source_exclusions(data_path: str | Path) -> Exclusions:
    """The saved exclusions of a data file (none when it has no file)."""
    path = exclusions_path(data_path)
    return Exclusions.read(path) if path.is_file() else Exclusions()


def write_exclusions(data_path: str | Path, exclusions: Exclusions) -> Path:
    """Save the exclusions beside the data file (atomic) and return its path."""
    path = exclusions_path(data_path)
    atomic_write_text(path, exclusions.to_text())
    return path
