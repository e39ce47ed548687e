"""Limits on what an input may cost, in one place (a light module: the CLI's --help and the unzip stage
read them without importing torch)."""

MAX_MEGAPIXELS = 50.0  # larger images are refused before decoding (a 30000² PNG is 100 KB on disk, 2.7 GB decoded)
MAX_IMAGE_MB = 64      # one image entry expands to at most this (a CelebA crop is ~10 KB; 300 MB of zeros is a bomb)
SMALL_SIDE = 32        # images with a side under this many pixels are listed as far below any training size
