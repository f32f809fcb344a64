"""The text model: features, training, thresholds, the model file, the corpus and evaluation."""
