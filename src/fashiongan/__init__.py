"""fashiongan: GANs on Fashion-MNIST as a DVC pipeline tracked in MLflow."""

__version__ = "0.1.0"
