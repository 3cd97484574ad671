"""Tests of ghosthub.models."""
