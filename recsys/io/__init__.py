"""Any export -> one canonical frame: readers and column mapping, dates, the catalogue, cleaning
with a report, and the synthetic stores. Nothing here knows about models."""
