"""Benchmarks and reports name the commit of the code they imported, wherever they run."""

import os
import platform
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
    (repo / "README.md").write_text("docs\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    head = git(repo, "rev-parse", "--short", "HEAD")

    assert commit_seen_from(elsewhere, repo) == head
    (repo / "untracked.txt").write_text("not code the run imported")
    assert commit_seen_from(elsewhere, repo) == head
    (repo / "README.md").write_text("docs, edited: no code the run executes\n")
    assert commit_seen_from(elsewhere, repo) == head
    with (repo / "mbpo" / "__init__.py").open("a") as f:
        f.write("# edited\n")
    assert commit_seen_from(elsewhere, repo) == head + "+dirty"


@pytest.mark.parametrize("code_path", ["conf/agent/sac.yaml", "scripts/benchmark.py",
                                       "pyproject.toml"])
def test_an_edit_to_any_code_path_marks_the_commit_dirty(tmp_path, code_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from provenance import CODE_PATHS
    assert code_path.split("/")[0] in CODE_PATHS
    repo, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    for path in ("mbpo/__init__.py", code_path):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, repo / path)
    elsewhere.mkdir()
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    head = git(repo, "rev-parse", "--short", "HEAD")
    with (repo / code_path).open("a") as f:
        f.write("# edited\n")
    assert commit_seen_from(elsewhere, repo) == head + "+dirty"


def test_outside_git_it_says_unknown(tmp_path):
    (tmp_path / "mbpo").mkdir()
    shutil.copy(ROOT / "mbpo" / "__init__.py", tmp_path / "mbpo" / "__init__.py")
    assert commit_seen_from(tmp_path, tmp_path) == "unknown"


ZEN5 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 26
model		: 2
model name	: AMD EPYC
stepping	: 1
flags		: fpu avx2 avx512f avx512_bf16 avx512_vnni

processor	: 1
model name	: AMD EPYC
"""


def test_cpu_name_gives_the_generation_the_brand_hides(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))  # as tests/test_matmul_floor.py does
    from provenance import cpu_name

    for index, level, size in (("index2", "2", "1024K"), ("index3", "3", "32768K"),
                               ("index0", "1", "48K")):
        (tmp_path / index).mkdir()
        (tmp_path / index / "level").write_text(level + "\n")
        (tmp_path / index / "size").write_text(size + "\n")
    assert cpu_name(ZEN5, tmp_path) == (
        "AMD EPYC (family 26 model 2 stepping 1; avx512f avx512_bf16; L2 1024K, L3 32768K)")
    no_avx512 = ZEN5.replace("avx512f avx512_bf16 avx512_vnni", "avx2")
    assert cpu_name(no_avx512, tmp_path / "missing") == (
        "AMD EPYC (family 26 model 2 stepping 1; no avx512f)")
    assert cpu_name("", tmp_path) == (platform.processor() or platform.machine())
