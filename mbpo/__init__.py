"""MBPO with adaptive rollout lengths driven by the dynamics ensemble's uncertainty."""
__version__ = "0.1.0"


def __getattr__(name: str):
    """`from mbpo import load_policy` without importing torch for `import mbpo` alone."""
    if name in ("load_policy", "export_policy"):
        from mbpo import policy

        return getattr(policy, name)
    raise AttributeError(f"module 'mbpo' has no attribute {name!r}")
