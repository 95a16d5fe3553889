"""``torch-photonic diagnose`` and ``torch-photonic age``: bad input exits with code 2 and a
one-line message before any model loads (the models themselves are too slow for the suite)."""
import pytest

from cli_runner import cli, cli_inproc
from torch_photonic.cli import build_parser


def test_help_lists_the_commands(capsys):
    text = build_parser().format_help()
    assert "diagnose" in text and "age" in text
    for cmd, needles in (("diagnose", ("--model", "--preset", "--set", "--seconds", "--tokens",
                                       "--sentences", "--json")),
                         ("age", ("--model", "--preset", "--set", "--times", "--plot", "--json"))):
        rc, out, err = cli_inproc(capsys, cmd, "--help")
        assert rc == 0 and all(n in out for n in needles), out


@pytest.mark.parametrize("args,needle", [
    (("diagnose",), "--model"),
    (("diagnose", "--model", "bert"), "bert"),
    (("diagnose", "--model", "smollm2", "--tokens", "0"), "--tokens"),
    (("diagnose", "--model", "smollm2", "--tokens", "many"), "--tokens"),
    (("diagnose", "--model", "minilm", "--tokens", "8"), "--tokens"),
    (("diagnose", "--model", "smollm2", "--sentences", "8"), "--sentences"),
    (("diagnose", "--model", "smollm2", "--tokens", "8", "--sentences", "8"), "not allowed"),
    (("diagnose", "--model", "minilm", "--preset", "no-such-preset"), "no-such-preset"),
    (("diagnose", "--model", "minilm", "--set", "levels"), "group__field=value"),
    (("diagnose", "--model", "minilm", "--set", "pcm__no_such_field=1"), "no_such_field"),
    (("diagnose", "--model", "minilm", "--set", "pcm__levels=-3"), "levels"),
    (("diagnose", "--model", "minilm", "--seconds", "-1"), "--seconds"),
    (("diagnose", "--model", "minilm", "--seconds", "inf"), "--seconds"),
    (("diagnose", "--model", "minilm", "--seconds", "soon"), "--seconds"),
    (("age",), "--model"),
    (("age", "--model", "minilm", "--times", ""), "--times"),
    (("age", "--model", "minilm", "--times", "1,,3600"), "--times"),
    (("age", "--model", "minilm", "--times", "1,-5"), "--times"),
    (("age", "--model", "minilm", "--times", "1,a day"), "--times"),
    (("age", "--model", "minilm", "--preset", "ideal", "--preset", "no-such-preset"),
     "no-such-preset"),
    (("age", "--model", "minilm", "--set", "array__tile_rows=0"), "tile_rows"),
    (("age", "--model", "smollm2", "--sentences", "4"), "--sentences"),
    (("age", "--model", "gpt2"), "gpt2"),
])
def test_bad_input_exits_2(capsys, args, needle):
    rc, out, err = cli_inproc(capsys, *args)
    assert rc == 2, (out, err)
    assert "Traceback" not in err and needle in err, err
    assert not out


def test_bad_input_exits_2_as_a_script():
    rc, out, err = cli("age", "--model", "minilm", "--times", "1,-1")
    assert rc == 2 and "Traceback" not in err and "--times" in err
