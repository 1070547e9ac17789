"""What an analyst asks of the trained product: the evaluation report (our models next to the
baselines, trained per split, with significance, calibration, per-segment figures and what-if
sweeps). Built on training, serving and the evaluation protocol."""
