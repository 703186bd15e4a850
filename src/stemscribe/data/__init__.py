"""Dataset readers (Slakh2100 layout) and training datasets."""
