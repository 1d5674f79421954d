"""Data sets and batch loaders (images now; text and synthetic tasks join as their eras arrive)."""

from .images import BatchLoader, ImageData, load_image_data, read_class_folders, read_idx

__all__ = ["BatchLoader", "ImageData", "load_image_data", "read_class_folders", "read_idx"]
