"""MBPO with adaptive rollout lengths driven by the dynamics ensemble's uncertainty."""
__version__ = "0.1.0"
