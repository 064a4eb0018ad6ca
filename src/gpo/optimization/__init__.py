"""The GPO optimizer: gradient, momentum, step size, learning rate, update strategy, the loop."""
