"""fp32_matmul=auto|onednn routes fp32 CPU matmuls to oneDNN only where they stay fp32."""

import pytest
import torch
from hydra.errors import ConfigCompositionException

from mbpo import fp32_matmul
from mbpo.checkpoint import config_fingerprint

needs_switch = pytest.mark.skipif(not fp32_matmul.available(),
                                  reason="this torch has no oneDNN fp32-precision switch")


@pytest.fixture(autouse=True)
def _default_backend_after():
    yield
    fp32_matmul.select("mkl")  # the setting is process-wide: leave the default behind


def setting() -> str:
    return torch.backends.mkldnn.matmul.fp32_precision


@needs_switch
def test_onednn_is_kept_only_with_fp32_sized_errors():
    backend, why = fp32_matmul.select("onednn")
    if backend == "onednn":  # this CPU computes fp32 there (AMD Zen 5 does)
        assert setting() == "bf16" and "probe error" in why
        assert fp32_matmul.probe_error() <= fp32_matmul.TOLERANCE
    else:  # a CPU whose oneDNN would round to bf16 (AMX) falls back
        assert setting() == "none" and "bf16" in why
    assert fp32_matmul.select("mkl") == ("mkl", "") and setting() == "none"


@needs_switch
def test_a_probe_that_sees_bf16_rounding_falls_back_to_mkl(monkeypatch):
    monkeypatch.setattr(fp32_matmul, "probe_error", lambda: 4e-3)
    backend, why = fp32_matmul.select("onednn")
    assert backend == "mkl" and setting() == "none" and "4.0e-03" in why


def test_auto_takes_onednn_where_the_probe_passes_and_mkl_is_the_default(make_cfg, monkeypatch):
    assert make_cfg().fp32_matmul.value == "mkl"
    monkeypatch.setattr(fp32_matmul, "available", lambda: False)
    assert fp32_matmul.select("auto")[0] == "mkl"
    monkeypatch.undo()
    if fp32_matmul.available():
        assert fp32_matmul.select("auto")[0] == fp32_matmul.select("onednn")[0]
        monkeypatch.setattr(fp32_matmul, "probe_error", lambda: 4e-3)
        assert fp32_matmul.select("auto")[0] == "mkl" and setting() == "none"


def test_the_probe_measures_fp32_error_under_mkl():
    fp32_matmul.select("mkl")
    assert 0 < fp32_matmul.probe_error() < fp32_matmul.TOLERANCE / 10


def test_bad_backend_is_refused_before_any_work(make_cfg):
    with pytest.raises(ValueError, match="fp32_matmul must be one of auto, mkl, onednn"):
        fp32_matmul.select("fast")
    with pytest.raises(ConfigCompositionException):
        make_cfg("fp32_matmul=fast")


def test_switching_backend_or_row_padding_keeps_a_run_resumable(make_cfg):
    assert (config_fingerprint(make_cfg("fp32_matmul=onednn"))
            == config_fingerprint(make_cfg("fp32_matmul=mkl")))
    assert (config_fingerprint(make_cfg("row_padding=false"))
            == config_fingerprint(make_cfg("row_padding=true")))
