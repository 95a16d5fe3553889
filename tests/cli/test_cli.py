"""The torch-photonic console script, run as ``python -m torch_photonic.cli``."""
import json

import pytest

from cli_runner import cli, cli_inproc
from torch_photonic.hardware.presets import preset


def test_help():
    rc, out, err = cli("--help")
    assert rc == 0
    for cmd in ("presets", "plan", "run", "accuracy", "report", "--json"):
        assert cmd in out
    rc, out, err = cli("run", "--help")
    assert rc == 0 and "--tokens" in out and "--preset" in out and "--json" in out
    assert "--finetune-steps" in out and "finetuned" in out


def test_no_command_prints_help(capsys):
    rc, out, err = cli_inproc(capsys)
    assert rc == 0 and "COMMAND" in out


def test_bad_tokens_subprocess():
    rc, out, err = cli("run", "--tokens", "0")
    assert rc == 2 and "Traceback" not in err and "--tokens" in err


@pytest.mark.parametrize("args,needle", [
    (("run", "--tokens", "0"), "--tokens"),
    (("run", "--tokens", "x"), "--tokens"),
    (("plan", "deepseek-v9"), "deepseek-v9"),
    (("run", "--preset", "no-such-preset.json", "--path", "convert"), "no-such-preset.json"),
    (("run", "--model", "nope", "--path", "cpu"), "nope"),
    (("run", "--finetune-steps", "-1"), "--finetune-steps"),
    (("run", "--model", "deepseek-tiny-random", "--path", "finetuned"), "finetuned"),
    (("report", "does-not-exist.json"), "does-not-exist.json"),
    (("bogus",), "bogus"),
])
def test_bad_input_exit_2_no_traceback(capsys, args, needle):
    rc, out, err = cli_inproc(capsys, *args)
    assert rc == 2, (out, err)
    assert "Traceback" not in err and needle in err


def test_report_not_a_report(capsys, tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{\"a\": 1}")
    rc, out, err = cli_inproc(capsys, "report", str(f))
    assert rc == 2 and "Traceback" not in err and "meter report" in err
    f.write_text("not json")
    rc, out, err = cli_inproc(capsys, "report", str(f))
    assert rc == 2 and "Traceback" not in err


def test_preset_file_missing_field(capsys, tmp_path):
    d = preset("ideal").to_dict()
    del d["pcm"]["levels"]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    rc, out, err = cli_inproc(capsys, "plan", "deepseek-tiny", "--preset", str(f))
    assert rc == 2 and "Traceback" not in err and "levels" in err


def test_run_cpu_json(capsys):
    rc, out, err = cli_inproc(capsys, "run", "--path", "cpu", "--tokens", "3", "--json",
                              "--heldout-tokens", "32", "--news-sentences", "1")
    assert rc == 0, err
    d = json.loads(out)
    assert d["model"] == "deepseek-tiny" and d["trained"]  # the trained model is the default
    assert len(d["results"]["cpu"]["tokens"]) == 3 and d["heldout"]["hamlet_tokens"] == 32
    assert d["results"]["cpu"]["heldout"]["hamlet_perplexity"] > 1


def test_presets_json(capsys):
    rc, out, err = cli_inproc(capsys, "presets", "--json")
    assert rc == 0, err
    rows = json.loads(out)
    assert {r["name"] for r in rows} >= {"ideal"}
    assert all("cells" in r and "sources" in r for r in rows)


def test_plan_deepseek_v3_json(capsys):
    rc, out, err = cli_inproc(capsys, "--json", "plan", "deepseek-v3")
    assert rc == 0, err
    p = json.loads(out)
    assert p["chips_needed"] >= 1 and p["params"] > 6e11


def test_run_report_json_then_report_validate(capsys, tmp_path):
    pytest.importorskip("jsonschema", reason="--validate checks the report against the JSON "
                        "schema with jsonschema, not installed (pip install jsonschema)")
    f = tmp_path / "meter.json"
    rc, out, err = cli_inproc(capsys, "run", "--preset", "ideal", "--path", "convert",
                              "--tokens", "1", "--report-json", str(f), "--strict",
                              "--heldout-tokens", "32", "--news-sentences", "1")
    assert rc == 0, err
    assert "[ convert] top-1 agreement 1.000" in out
    rc, out, err = cli_inproc(capsys, "report", str(f), "--validate")
    assert rc == 0, err
    assert out.strip()
