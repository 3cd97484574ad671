"""Tests of ghosthub._utils: hashes, locks, units."""
