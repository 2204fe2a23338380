"""Twinkle server: serves many users' LoRA adapters on one copy of each base model."""

__version__ = "0.1.0"
