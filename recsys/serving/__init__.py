"""The request path: batches -> candidates -> scores -> blend -> filter -> re-rank -> explain,
the ranking core every answer goes through (`lists`), and the `Recommender` facade over it.
Serving never imports training."""
