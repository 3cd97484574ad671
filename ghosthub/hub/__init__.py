"""Hubs: the static folder format, reading hubs by folder or URL, writing them atomically, serving them."""
