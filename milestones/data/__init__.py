"""Data sets and batch loaders: images (images.py read them, batches.py batches and augments them), translation
text (text.py; your own sentence pairs: pairs.py), the adding problem (synthetic.py)."""

from .batches import BatchLoader, random_crop, random_flip, shift
from .images import ImageData, load_image_data, read_class_folders, read_idx

__all__ = ["BatchLoader", "ImageData", "load_image_data", "random_crop", "random_flip", "read_class_folders",
           "read_idx", "shift"]
