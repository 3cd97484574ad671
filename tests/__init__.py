"""ghosthub's tests, laid out like the package; tests/support holds what they share."""
