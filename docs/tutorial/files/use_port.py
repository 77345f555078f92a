"""Load the converted weights into the port and use it: no TF 1 code runs."""
import numpy as np

from legacy_mnist import data
from port_mnist import build

model = build()
model.load_weights("port.weights.h5")
x, y = data(500, seed=1)
accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y.argmax(axis=1)))
print("accuracy of the trained port on 500 new digits: {:.3f}".format(accuracy))
