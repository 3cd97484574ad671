"""Tests of ghosthub.cli: each command module's output and exit codes."""
