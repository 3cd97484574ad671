"""Tests of ghosthub.hub."""
