"""Tests of ghosthub.data."""
