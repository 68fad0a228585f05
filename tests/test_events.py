"""Reading a run's scalars back: a resumed run's event files read as one clean curve."""

import logging

from torch.utils.tensorboard import SummaryWriter

from mbpo.events import read_scalars


def test_a_resumed_runs_purge_keeps_the_resumed_steps_and_says_nothing(tmp_path, caplog):
    """The first sitting logged steps 1-10 but checkpointed at 5; the resumed one starts at
    6 with purge_step 6. Steps 6-10 of the first sitting are dropped, without a warning."""
    sittings = [(range(1, 11), 0.0, None), (range(6, 9), 100.0, 6)]
    for number, (steps, offset, purge_step) in enumerate(sittings):
        writer = SummaryWriter(tmp_path / "sitting", purge_step=purge_step)
        for step in steps:
            writer.add_scalar("eval/return", offset + step, step)
        writer.close()
        # files are read in name order: name them as sittings a second apart would be
        (written,) = (tmp_path / "sitting").iterdir()
        written.rename(tmp_path / f"events.out.tfevents.{1_700_000_000 + number}.host.1.0")

    with caplog.at_level(logging.WARNING):
        scalars = read_scalars(tmp_path)

    assert scalars["eval/return"] == [(s, float(s)) for s in range(1, 6)] + [
        (s, 100.0 + s) for s in range(6, 9)]
    assert not [r for r in caplog.records if "out of order" in r.getMessage()], caplog.text
