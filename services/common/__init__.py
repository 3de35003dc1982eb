"""Code both services import: the weight-cache contract, the model bundle schema, shared feature names."""
