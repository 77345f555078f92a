"""Layer 1: TensorFlow and Keras files (checkpoints read, weights written); no models."""
