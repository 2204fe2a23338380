"""Server-side data pipeline: datasets, templates, preprocessors, encoding and dataloaders."""
