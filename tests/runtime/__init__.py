"""Tests of ghosthub.runtime."""
