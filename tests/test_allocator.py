import resource
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mbpo.allocator import keep_freed_memory
from mbpo.buffer import TransitionBuffer
from mbpo.ensemble import GaussianEnsemble
from mbpo.envs import never_rule
from mbpo.rollout import first_step, rollout_model
from mbpo.sac import SAC
from mbpo.schedules import RolloutPlan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from peak_rss import reset_peak_rss  # noqa: E402 (a measurement helper of the scripts)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_a_rollout_phase_stops_page_faulting_once_freed_memory_is_kept():
    """A rollout phase's chunk temporaries (11 MiB each) must reuse memory: with glibc's
    defaults this phase takes 30-46k minor page faults every time, measured here."""
    assert keep_freed_memory()
    model = GaussianEnsemble(11, 3)  # Hopper-sized, MBPO's 7 x 4x200
    actor = SAC(11, 3, np.full(3, -1.0), np.full(3, 1.0)).actor
    start = torch.randn(4096, 11)
    buffer = TransitionBuffer(11, 3, 4096 * 2, torch.device("cpu"))

    def faults_of_one_phase() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        first = first_step(model, actor, start, chunk_size=2048)
        rollout_model(model, actor, first, RolloutPlan(2), never_rule(), buffer, chunk_size=2048)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults_of_one_phase()  # the heap grows to the phase's working size once
    faults_of_one_phase()
    assert faults_of_one_phase() < 5000  # ~0 in steady state; glibc defaults: 30-46k


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/clear_refs")
def test_reset_peak_rss_forgets_an_earlier_peak():
    """A measurement after the reset sees its own peak, not a freed 256 MiB one's."""
    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    block = np.ones(256 << 17)  # 256 MiB of float64, touched
    with_block = peak_mib()
    del block
    assert reset_peak_rss(release_freed=True)
    assert peak_mib() < with_block - 200
