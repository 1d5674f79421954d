"""Data sets and batch loaders: images (images.py), translation text (text.py), the adding problem (synthetic.py)."""

from .images import BatchLoader, ImageData, load_image_data, read_class_folders, read_idx, translate

__all__ = ["BatchLoader", "ImageData", "load_image_data", "read_class_folders", "read_idx", "translate"]
