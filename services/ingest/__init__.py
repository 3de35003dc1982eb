"""The ingester: the event stream from Kafka into the trainer's event files, exactly once."""
