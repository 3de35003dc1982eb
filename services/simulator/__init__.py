"""A simulator of the course's users: the world behind the generated data, playing live sessions
against the service through nginx and streaming every event through Kafka (issue: the course's
world in a box). It is outside our system: the service never reads what it knows."""
