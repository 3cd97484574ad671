"""Using networks: evaluation on labelled data, prediction and export, publishing into a hub."""
