"""Promises that cut across modules: trust, durability, start-up, network advice, end to end, packaging, layout."""
