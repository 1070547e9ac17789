"""Training: features, the models' fit, the buy-again learner, the validation window, the
hybrid's fit, calibration and the Spark engine; `runner.train` is the one runner. Training uses
the serving stages (batches, pipeline, the ranking core), never the Recommender facade."""
