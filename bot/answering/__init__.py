"""Turning retrieved passages into an answer: with Claude, or extractively without a model."""
