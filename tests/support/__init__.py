"""What the tests share: a fault-injecting HTTP server, cards and settings for fetching, real checkpoints."""
