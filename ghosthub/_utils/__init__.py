"""Small utilities every layer uses: atomic file writes, hashes, locks, URL helpers."""
