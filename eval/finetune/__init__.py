"""Fine-tuning datasets from staff feedback: selection, scrubbing, formats, export."""
