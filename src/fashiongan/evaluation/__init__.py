"""How results are measured: the ruler (the feature network) and its card, the metrics, the training-time probe."""
