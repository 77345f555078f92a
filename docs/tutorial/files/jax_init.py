"""compat_init's initializers on Keras 3 with JAX: the backend's own arrays,
with the values a v1 Session and the TensorFlow backend give for the seed."""
import jax
import keras

import compat_init as ci

init = ci.glorot_uniform(seed=1)
kernel = jax.jit(lambda: init((3, 3)))()  # traced: the draw becomes a constant
print(keras.backend.backend(), type(kernel).__name__, kernel[0])
