"""invocations.md: the record of every sitting that ran a suite's runs."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_learning  # noqa: E402


def test_both_rows_of_a_sitting_name_the_commit_it_started_from(tmp_path, monkeypatch):
    """Code committed while a sitting runs does not relabel what that sitting launched."""
    commits = iter(["aaaaaaa", "bbbbbbb"])
    monkeypatch.setattr(bench_learning, "code_commit", lambda: next(commits))
    monkeypatch.setattr(bench_learning, "run_forwarding_stops", lambda command, runs: 0)
    monkeypatch.setattr(sys, "argv", ["scripts/bench_learning.py", "--suite", "quick", "out"])

    assert bench_learning.launch(tmp_path, ["python", "-m", "mbpo.train", "-m"]) == 0

    rows = (tmp_path / "invocations.md").read_text().splitlines()[2:]
    assert len(rows) == 2
    assert all("| aaaaaaa |" in row for row in rows), rows
    assert "`python scripts/bench_learning.py --suite quick out`" in rows[1]
    assert rows[0].endswith("| started |") and "exit 0" in rows[1]
