"""MBPO with adaptive rollout lengths driven by the dynamics ensemble's uncertainty."""
