"""Benchmarks and reports name the commit of the code they imported, wherever they run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


def commit_seen_from(cwd: Path, package_root: Path) -> str:
    """code_commit() in a fresh interpreter that imports `mbpo` from package_root; git may
    not look above cwd's parent (a temp dir inside someone's repo would otherwise count)."""
    code = (f"import sys; sys.path[:0] = [{str(package_root)!r}, {str(ROOT / 'scripts')!r}]; "
            "from provenance import code_commit; print(code_commit())")
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_names_the_checkout_mbpo_comes_from_not_the_cwd_and_marks_edits(tmp_path):
    repo, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    (repo / "mbpo").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(ROOT / "mbpo" / "__init__.py", repo / "mbpo" / "__init__.py")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    head = git(repo, "rev-parse", "--short", "HEAD")

    assert commit_seen_from(elsewhere, repo) == head
    (repo / "untracked.txt").write_text("not code the run imported")
    assert commit_seen_from(elsewhere, repo) == head
    with (repo / "mbpo" / "__init__.py").open("a") as f:
        f.write("# edited\n")
    assert commit_seen_from(elsewhere, repo) == head + "+dirty"


def test_outside_git_it_says_unknown(tmp_path):
    (tmp_path / "mbpo").mkdir()
    shutil.copy(ROOT / "mbpo" / "__init__.py", tmp_path / "mbpo" / "__init__.py")
    assert commit_seen_from(tmp_path, tmp_path) == "unknown"
