"""What users run after training: generate, explore, serve, compare, report, the MLflow UI."""
