"""Layer 0: pure Python and numpy (no TensorFlow at import): text helpers, the run's options,
the numerics of the comparisons, inputs, the pairing's rules and the one pairing."""
