"""The command line at its boundaries: options are checked before any work starts (exit 2, the
option named), and a command whose requested work failed exits non-zero (exit 1)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "cli"))
from cli_runner import cli_inproc  # noqa: E402

from torch_photonic.energy import baselines  # noqa: E402
from torch_photonic.eval import acceptance, accuracy  # noqa: E402
from torch_photonic.eval.tables import Row  # noqa: E402


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if a command starts its work (the DeepSeek run or the accuracy table)."""
    def started(*a, **k):
        raise AssertionError("the command started its work before checking its options")
    monkeypatch.setattr(acceptance, "run_deepseek", started)
    monkeypatch.setattr(accuracy, "evaluate", started)


@pytest.mark.parametrize("args,needles", [
    (("run", "--gpu", "gtx-9000"), ("--gpu", "gtx-9000", "h100")),
    (("run", "--gpu", "none"), ("--gpu", "'none'")),
    (("plan", "deepseek-tiny", "--gpu", "gtx-9000"), ("--gpu", "gtx-9000", "(or none)")),
    (("accuracy", "--format", "fp8_e4m3/bogus"), ("--format", "'bogus'", "mx")),
    (("accuracy", "--format", "fp9/mx"), ("--format", "'fp9'", "fp8_e4m3")),
    (("accuracy", "--format", "fp8_e4m3"), ("--format", "FORMAT/SCALING")),
    (("accuracy", "--format", "fp8_e4m3/nvfp4"), ("--format", "nvfp4", "fp4_e2m1")),
    (("accuracy", "--format", "none/none"), ("--format", "'none'")),
    (("run", "--preset", "no-such-chip"), ("--preset", "no-such-chip", "glass-pcm-200mm")),
    (("run", "--preset", "no-such-chip", "--path", "cpu"), ("--preset", "no-such-chip")),
    (("run", "--set", "array__tile_rows=128.0"),
     ("array.tile_rows must be an integer, got 128.0",)),
    (("run", "--set", "seed=1180591620717411303424", "--path", "cpu"), ("seed", "int64")),
    (("accuracy", "--preset", "no-such-chip"), ("--preset", "no-such-chip")),
])
def test_bad_option_exits_2_before_any_work(capsys, no_work, args, needles):
    rc, out, err = cli_inproc(capsys, *args)
    assert rc == 2, (out, err)
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_every_known_gpu_is_accepted(capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(acceptance, "run_deepseek",
                        lambda **kw: seen.append(kw["gpu"]) or dict(results={}))
    monkeypatch.setattr(acceptance, "format_run", lambda out: "ok")
    for gpu in baselines.known() + ["H100"]:
        rc, out, err = cli_inproc(capsys, "run", "--gpu", gpu, "--path", "cpu")
        assert rc == 0, err
    assert seen == baselines.known() + ["H100"]


def test_plan_with_float_override_exits_2_naming_the_field(capsys):
    rc, out, err = cli_inproc(capsys, "plan", "deepseek-tiny", "--set", "array__tile_rows=128.0")
    assert rc == 2 and "array.tile_rows must be an integer, got 128.0" in err


def test_preset_file_with_float_field_exits_2_naming_file_and_field(capsys, no_work, tmp_path):
    p = tmp_path / "chip.toml"
    p.write_text('base = "ideal"\n[converters]\nadc_bits = 8.0\n')
    rc, out, err = cli_inproc(capsys, "run", "--preset", str(p))
    assert rc == 2 and str(p) in err and "converters.adc_bits must be an integer" in err


# ---- failed work exits 1 ---------------------------------------------------------------------

def _fail_path(monkeypatch, failing):
    original = acceptance._emulated

    def emulated(path, *a, **k):
        if path == failing:
            raise RuntimeError(f"planted failure of {path}")
        return original(path, *a, **k)
    monkeypatch.setattr(acceptance, "_emulated", emulated)


RUN = ("run", "--model", "deepseek-tiny-random", "--tokens", "2", "--prompt-len", "2",
       "--no-progress")


def test_run_whose_path_failed_exits_1_and_names_it(capsys, monkeypatch):
    _fail_path(monkeypatch, "convert")
    rc, out, err = cli_inproc(capsys, *RUN, "--path", "convert")
    assert rc == 1, (out, err)
    assert "[ convert] not run: RuntimeError: planted failure of convert" in out  # still printed
    assert "path 'convert' failed: RuntimeError: planted failure of convert" in err
    assert "Traceback" not in err


def test_run_whose_path_failed_exits_1_with_json_too(capsys, monkeypatch):
    import json
    _fail_path(monkeypatch, "convert")
    rc, out, err = cli_inproc(capsys, *RUN, "--path", "convert", "--json")
    assert rc == 1
    assert "error" in json.loads(out)["results"]["convert"]


def test_run_with_every_path_fine_exits_0(capsys):
    rc, out, err = cli_inproc(capsys, *RUN, "--path", "cpu")
    assert rc == 0, err
    assert "[     cpu]" in out


def test_accuracy_whose_row_failed_exits_1(capsys, monkeypatch):
    def evaluate(**kw):
        return [Row("fp8_e4m3/mx", "format", minilm=dict(mean=0.99, min=0.9)),
                Row("fp4_e2m1/nvfp4", "format", error="RuntimeError: planted")]
    monkeypatch.setattr(accuracy, "evaluate", evaluate)
    rc, out, err = cli_inproc(capsys, "accuracy", "--no-smollm2", "--format", "fp8_e4m3/mx",
                              "--format", "fp4_e2m1/nvfp4")
    assert rc == 1
    assert "fp4_e2m1/nvfp4" in out and "row 'fp4_e2m1/nvfp4' failed: RuntimeError: planted" in err


def test_accuracy_passes_the_parsed_formats(capsys, monkeypatch):
    seen = {}

    def evaluate(**kw):
        seen.update(kw)
        return []
    monkeypatch.setattr(accuracy, "evaluate", evaluate)
    rc, out, err = cli_inproc(capsys, "accuracy", "--no-smollm2", "--format", "fp8_e5m2/block128")
    assert rc == 0, err
    assert seen["formats"] == [("fp8_e5m2", "block128")]
