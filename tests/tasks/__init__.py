"""Tests of ghosthub.tasks."""
