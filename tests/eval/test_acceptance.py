"""The DeepSeek acceptance run (``torch-photonic run``): every path runs and, on the ideal
preset, matches full precision token for token."""
import json

import pytest

pytest.importorskip("transformers", reason="the DeepSeek builders use transformers' DeepseekV3 "
                    "classes (pip install 'torch_photonic[models]')")

from torch_photonic.device.module import get_config  # noqa: E402
from torch_photonic.eval.acceptance import format_run, run_deepseek  # noqa: E402


def test_all_paths_run_and_match_on_ideal(tmp_path):
    before = get_config()
    report = tmp_path / "meter.json"
    out = run_deepseek(preset="ideal", tokens=3, progress=False, strict=True,
                       report_json=str(report))
    assert get_config() is before  # the photonic path restores the device config
    assert set(out["results"]) == {"cpu", "convert", "photonic"}
    cpu = out["results"]["cpu"]["tokens"]
    for path in ("convert", "photonic"):
        r = out["results"][path]
        assert r["tokens"] == cpu and r["top1_agreement"] == 1.0, path
        assert r["joules_per_token"] > 0 and r["chips_needed"] >= 1
        assert sum(r["tokens_per_expert"]) > 0
        cv = r["converters"]  # ideal: nothing clips, every layer read
        assert cv["output_clip_rate"] == 0 and cv["retries"] == 0 and cv["worst_layer"]
    rep = out["results"]["convert"]["convert_report"]
    assert rep["params_optical"] > 0 and "lm_head" in rep["excluded"] and rep["summary"]
    assert out["plan"]["chips_needed"] >= 1
    assert "modes" in json.loads(report.read_text())
    text = format_run(out)
    assert "[ convert]" in text and "[photonic]" in text and "not run" not in text
    json.dumps(out, default=str)


def test_failing_path_is_recorded_unless_strict(monkeypatch):
    import torch_photonic.eval.acceptance as acc

    def boom(model, cfg):
        raise RuntimeError("convert failed")
    monkeypatch.setattr(acc, "convert", boom)
    out = run_deepseek(preset="ideal", tokens=1, paths=["cpu", "convert"], progress=False)
    assert "convert failed" in out["results"]["convert"]["error"]
    with pytest.raises(RuntimeError, match="convert failed"):
        run_deepseek(preset="ideal", tokens=1, paths=["cpu", "convert"], progress=False,
                     strict=True)


def test_bad_arguments():
    with pytest.raises(ValueError):
        run_deepseek(tokens=0)
    with pytest.raises(ValueError):
        run_deepseek(paths=["cpu", "gpu"], tokens=1)
