"""Tests of ghosthub.training."""
