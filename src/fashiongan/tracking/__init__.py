"""MLflow: the store, the run the stages share, datasets, the generator as a model, sync after an outage."""
