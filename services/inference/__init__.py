"""The inference replica: Flask app that serves recommendations from the model version in Redis."""
