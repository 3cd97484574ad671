"""Tests of ghosthub.architectures."""
