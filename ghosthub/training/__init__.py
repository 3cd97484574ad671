"""Training: recipes, the trainer, exact resume, data-parallel launch, provenance and rebuild."""
