"""Tests of ghosthub.architectures.ghostnet, the built-in family."""
