"""Reading a run's scalars back: a resumed run's event files read as one clean curve."""

import logging

from torch.utils.tensorboard import SummaryWriter

from mbpo.events import read_scalars


def test_a_resumed_runs_purge_keeps_the_resumed_steps_and_says_nothing(tmp_path, caplog):
    """The first sitting logged steps 1-10 but checkpointed at 5; the resumed one starts at
    6 with purge_step 6. Steps 6-10 of the first sitting are dropped, without a warning."""
    first = SummaryWriter(tmp_path)
    for step in range(1, 11):
        first.add_scalar("eval/return", float(step), step)
    first.close()
    resumed = SummaryWriter(tmp_path, purge_step=6)
    for step in range(6, 9):
        resumed.add_scalar("eval/return", 100.0 + step, step)
    resumed.close()

    with caplog.at_level(logging.WARNING):
        scalars = read_scalars(tmp_path)

    assert scalars["eval/return"] == [(s, float(s)) for s in range(1, 6)] + [
        (s, 100.0 + s) for s in range(6, 9)]
    assert not [r for r in caplog.records if "out of order" in r.getMessage()], caplog.text
