"""Weights files whatever the architecture: formats, training state, strict loading, file -> network.

- :mod:`.formats`: ``.ckpt``, safetensors and PyTorch files, told apart by content and scanned
  (names, dtypes, shapes) before any tensor is read;
- :mod:`.state`: optimizer slots, step counters and EMA copies, told from network parameters;
- :mod:`.checkpoint`: ghosthub's own checkpoints, with the record that makes them self-describing;
- :mod:`.strict`: arrays into a built network, strictly, with the head and stem adaptations;
- :mod:`.plan`: what a file is and how it maps, through the architecture's layout hooks;
- :mod:`.network`: a file -> a network holding its weights (the one place that does it);
- :mod:`.convert`: ``ghosthub inspect`` and ``ghosthub convert``.

Importing this package (or any module but :mod:`.network`'s building step) does not import MindSpore.
"""
