"""MuJoCo picks its OpenGL backend from MUJOCO_GL when it is first imported, and a backend
that cannot load (osmesa without OSMesa, egl without a driver) fails there with a long
traceback. The command-line entry points check it first and say it in one line."""

from __future__ import annotations

import os
import sys


def exit_if_gl_broken() -> None:
    """Import mujoco; on failure print one line naming MUJOCO_GL and exit with status 2."""
    try:
        import mujoco  # noqa: F401
    except Exception as e:  # ImportError, AttributeError from PyOpenGL, OSError
        backend = os.environ.get("MUJOCO_GL", "")
        print(f"error: MUJOCO_GL={backend} names an OpenGL backend that cannot load here "
              f"({type(e).__name__}: {str(e).strip().splitlines()[-1][:120]}); offscreen video "
              "needs MUJOCO_GL=egl with a GPU driver, or MUJOCO_GL=osmesa with OSMesa "
              "installed; training needs neither (unset MUJOCO_GL)", file=sys.stderr)
        sys.exit(2)
