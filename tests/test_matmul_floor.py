"""The benchmark's matmul floor records exactly the matmuls a call makes, backward included."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from matmul_floor import MatmulRecorder, matmul_floor_seconds, operand  # noqa: E402


def ensemble_layer_step() -> None:
    w = torch.randn(3, 4, 5, requires_grad=True)
    x = torch.randn(6, 4).unsqueeze(0).expand(3, -1, -1)  # a shared input: batch stride 0
    y = torch.baddbmm(torch.zeros(3, 1, 5), x, w).relu()
    (y @ torch.randn(5, 2)).sum().backward()


def test_recorder_sees_forward_and_backward_matmuls_with_their_strides():
    recorder = MatmulRecorder()
    with recorder:
        ensemble_layer_step()
    ops = [str(func) for func, _, _ in recorder.calls]
    assert ops.count("aten.baddbmm.default") == 1  # forward
    assert "aten.bmm.default" in ops  # the weight gradient in backward
    x_spec = recorder.calls[0][1][1]
    assert x_spec.size == (3, 6, 4) and x_spec.stride[0] == 0
    replayed = operand(x_spec, torch.device("cpu"))
    assert replayed.shape == (3, 6, 4) and replayed.stride() == x_spec.stride


def test_elementwise_work_is_not_recorded_and_replay_runs():
    recorder = MatmulRecorder()
    with recorder:
        torch.randn(100).relu().exp().sum()
    assert recorder.calls == []
    assert matmul_floor_seconds(ensemble_layer_step, torch.device("cpu"), repeats=1) > 0


def test_out_variants_are_recorded_and_replayed_into_fresh_outputs():
    """Rollouts write per-member matmuls into one output with out=; the floor must see them."""
    out = torch.empty(2, 6, 5)
    w, x = torch.randn(2, 4, 5), torch.randn(6, 4)

    def per_member() -> None:
        for e in range(2):
            torch.addmm(torch.zeros(1, 5), x, w[e], out=out[e])

    recorder = MatmulRecorder()
    with recorder:
        per_member()
    assert [str(func) for func, _, _ in recorder.calls] == ["aten.addmm.out"] * 2
    out_spec = recorder.calls[1][2]["out"]
    assert out_spec.size == (6, 5) and out_spec.stride == (5, 1)
    before = out.clone()
    assert matmul_floor_seconds(per_member, torch.device("cpu"), repeats=1) > 0
    assert torch.equal(out, before)  # the replay wrote into its own tensors
