"""The review desk: specialists check suggested severities in a browser; their corrections feed the model."""
