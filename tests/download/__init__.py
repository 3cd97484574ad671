"""Tests of ghosthub.download."""
