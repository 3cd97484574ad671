"""Tests of ghosthub.weights."""
