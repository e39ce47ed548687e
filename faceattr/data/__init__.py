"""Data: CelebA-format attribute files, partitions, archives, decoded pixels, splits and batches.

The pipeline's data stages (unzip, clean_labels, partition, preprocess) are this folder's functions:
`extract_images` (a safe unzip), `parse_attribute_file`/`clean_labels`, `make_partitions`,
`build_pixel_cache`; training reads `load_split` of the pixel cache. `synth/` generates the synthetic
CelebA-format default dataset.
"""

from faceattr.public import exports

__all__, __getattr__, __dir__ = exports(
    __name__,
    {
        "CELEBA_ATTRIBUTES": ".attributes",
        "select_attributes": ".attributes",
        "extract_images": ".archive",
        "parse_attribute_file": ".labels",
        "clean_labels": ".labels",
        "AttributeTable": ".labels",
        "make_partitions": ".partition",
        "partition_path": ".partition",
        "read_id_table": ".partition",
        "build_pixel_cache": ".pixels",
        "PixelCache": ".pixels",
        "Split": ".splits",
        "load_split": ".splits",
        "read_partition_labels": ".splits",
        "decode_rgb": ".decoding",
        "decode_resized": ".decoding",
        "resize_to": ".decoding",
        "normalize": ".decoding",
        "MAX_MEGAPIXELS": ".input_limits",
    },
)
