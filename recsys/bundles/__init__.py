"""What a training run produces (`Trained`, `TrainedState`) and the bundle that stores it:
.npy / Parquet / LightGBM text files named by a JSON manifest, no pickle, written atomically,
the live one named by CURRENT."""
