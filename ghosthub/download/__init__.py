"""Downloads: the cache layout and records, partial downloads, verified fetching, HTTP transport."""
