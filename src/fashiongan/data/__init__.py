"""The training data: where it comes from and how it is checked (sources), the IDX format, images as arrays."""
