"""Where a problem in a data file is, and how it is worded: one DataError per kind of problem,
at its first row, with the number of rows that have it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.errors import DataError

HEADER_ROW = 1          # spreadsheet row of the header
FIRST_DATA_ROW = 2      # spreadsheet row of the first line, i.e. row = position + FIRST_DATA_ROW


@dataclass(frozen=True)
class Where:
    """Where a problem is: the file and, in a workbook, the sheet."""

    file: str
    sheet: str | None = None

    def error(self, message: str, column: str | None = None, row: int | None = None) -> DataError:
        """A DataError located here."""
        return DataError(message, file=self.file, sheet=self.sheet, column=column, row=row)


def bad_rows_problem(
    bad: pd.Series, values: pd.Series, where: Where, header: str, description: str, example: bool = True
) -> DataError | None:
    """DataError at the first bad row with the number of bad rows, or None when none is bad."""
    count = int(bad.sum())
    if count == 0:
        return None
    first = bad.idxmax()  # index labels are positions in the file, so this is the first bad row
    value = values.loc[first]
    value = value.item() if isinstance(value, np.generic) else value  # 'inf', not 'np.float64(inf)'
    shown = f" (first: {value!r})" if example else ""
    rows = "row" if count == 1 else "rows"
    return where.error(f"{description} in {count:,} {rows}{shown}", column=header, row=int(first) + FIRST_DATA_ROW)


def first_problem_with_notes(problems: list[DataError]) -> DataError:
    """The first problem, with the others attached as notes (shown in the traceback)."""
    first = problems[0]
    if len(problems) > 1:
        more = "\n".join(f"  {p}" for p in problems[1:11])
        first.add_note(f"{len(problems) - 1} more problem(s) (validate_transactions lists all):\n{more}")
    return first
