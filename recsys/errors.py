"""Every error the library raises on purpose, in one place: each says what is wrong in one line
that a person can act on (which file, column and row; which id; which bundle)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataError(ValueError):
    """Bad input, located as precisely as we can: file, sheet, column, row."""

    message: str
    file: str | None = None
    sheet: str | None = None
    column: str | None = None
    row: int | None = None  # 1-based row as a spreadsheet user sees it (header = row 1)

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"file '{self.file}'")
        if self.sheet:
            where.append(f"sheet '{self.sheet}'")
        if self.column:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        return (", ".join(where) + ": " if where else "") + self.message


class AmbiguousDates(ValueError):
    """Every value reads as day-first and as month-first; `example` is one of them."""

    def __init__(self, example: str):
        super().__init__(example)
        self.example = example


class BundleError(RuntimeError):
    """A bundle is missing, damaged or from an incompatible version."""


class UnknownItemError(KeyError):
    def __str__(self) -> str:
        return f"unknown item id {self.args[0]!r}"


class UnknownItemsError(UnknownItemError):
    def __str__(self) -> str:
        return f"unknown item id(s) {', '.join(map(repr, self.args[0]))}"


class UnknownUserError(KeyError):
    def __str__(self) -> str:
        return f"unknown user id {self.args[0]!r}"


class SparkUnavailable(ImportError):
    """pyspark cannot be imported (an optional extra)."""
