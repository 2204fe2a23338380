"""Reinforcement-learning helpers for local loops: the same module as ``twinkle_client.rl``."""

from twinkle_client.rl import group_advantages, preference_pair, rows_from_samples

__all__ = ["group_advantages", "preference_pair", "rows_from_samples"]
