"""Data: preprocessing transforms, ImageFolder pipelines, the digits data set, class names."""
