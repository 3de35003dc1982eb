"""The trainer: event log -> features -> LightFM fit -> evaluation -> publication into Redis."""
