"""Values several layers share: file formats, ImageNet statistics, I/O chunk size."""

# Every file-format a card's asset may have (MindSpore Hub's list, plus safetensors).
FILE_FORMATS = ("air", "ckpt", "onnx", "mindir", "mslite", "safetensors")
# Formats ghosthub can load into a network, in order of preference.
WEIGHT_FORMATS = ("ckpt", "safetensors")

# ImageNet channel statistics on the 0-255 scale, as MindCV's eval pipeline normalises.
IMAGENET_DEFAULT_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_DEFAULT_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

# Every folder ghosthub writes under its cache root, and what it holds: `cache clear` removes these and
# nothing else a user keeps there, `cache ls` sums them (tests/download/test_cache.py finds every folder the code
# writes there in this list).
CACHE_FOLDERS = {
    "assets": "verified downloads",
    "registry": "the card folders' parsed front-matter",
    "hubs": "copies of URL hubs' index and cards",
    "compile": "MindSpore's compile cache",
    "onnx": "ONNX Runtime's exported networks",
    "publish": "checkpoints staged for an object-store hub",
    "architectures": "what plug-in architectures learned here (MindCV's names, networks checked on this machine)",
}

# Large reads and writes keep hashing and copying at the speed of the hash itself (hashlib drops the GIL).
CHUNK_SIZE = 1 << 20

# The entry of a checkpoint (a .ckpt string, a safetensors __metadata__ key) holding ghosthub's record.
CHECKPOINT_RECORD_KEY = "ghosthub"
