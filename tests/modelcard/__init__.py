"""Tests of ghosthub.modelcard."""
