"""The torch-photonic console script: the installed script as a process, ``main()`` in this
process where no process is needed."""
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
    rc, out, err = cli_inproc(capsys, "plan", "deepseek-v3", "--batch", "8", "--context", "2048",
                              "--json")
    assert rc == 0, err
    p = json.loads(out)
    assert p["chips_needed"] >= 1 and p["params"] > 6e11
    assert p["batch"] == 8 and p["context"] == 2048 and p["chips"] == p["chips_needed"]
    # the fields a hardware architect reads, static and dynamic apart
    assert set(p["by_component"]) == {"static", "dynamic"}
    assert p["joules_per_token"] == pytest.approx(
        sum(p["by_component"]["static"].values()) + sum(p["by_component"]["dynamic"].values()))
    assert p["joules_per_token_static"] == pytest.approx(sum(p["by_component"]["static"].values()))
    assert p["latency_s_per_token"] == pytest.approx(sum(p["by_stage"].values()))
    assert p["tokens_per_s"] == pytest.approx(8 / p["latency_s_per_token"])
    assert 0 < p["utilization"] < 1 and p["usd_per_million_tokens"] > 0
    assert p["wear_out_tokens"] is None                    # every weight resident: no rewrites
    g = p["gpu"]
    for k in ("name", "gpus_needed", "joules_per_token", "latency_s_per_token",
              "usd_per_million_tokens"):
        assert g[k] is not None, k
    assert g["gpus_needed"] * 0.9 * 80e9 >= g["weights_bytes"] + g["kv_bytes"]


def test_plan_sweep_table_and_plot(capsys, tmp_path):
    png = tmp_path / "sweep.png"
    rc, out, err = cli_inproc(capsys, "plan", "deepseek-tiny", "--sweep", "1", "16",
                              "--context", "64", "--plot", str(png))
    assert rc == 0, err
    assert "batch" in out and "GPU" in out and png.stat().st_size > 10_000
    rc, out, err = cli_inproc(capsys, "plan", "deepseek-tiny", "--sweep", "1", "4", "--json",
                              "--gpu", "none")
    rows = json.loads(out)
    assert [r["batch"] for r in rows] == [1, 4] and "gpu" not in rows[0]


@pytest.mark.parametrize("args,needle", [
    (("plan", "deepseek-v3", "--batch", "0"), "--batch"),
    (("plan", "deepseek-v3", "--context", "-5"), "--context"),
    (("plan", "deepseek-v3", "--chips", "0"), "--chips"),
    (("plan", "deepseek-v3", "--gpu", "gtx-9000"), "gtx-9000"),
    (("plan", "deepseek-v3", "--plot", "x.png"), "--sweep"),
    (("plan", "deepseek-v3", "--set", "cost__usd_per_kwh=-1"), "cost.usd_per_kwh"),
    (("plan", "deepseek-v3", "--batch", "1024", "--context", "1000000", "--chips", "8"),
     "does not fit in any tier"),
])
def test_plan_bad_input(capsys, args, needle):
    rc, out, err = cli_inproc(capsys, *args)
    assert rc == 2, (out, err)
    assert "Traceback" not in err and needle in err


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
