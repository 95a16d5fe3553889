"""The quantizer's names agree everywhere: the C++ parsers' table (_C._quant_names()), the
package-wide names (torch_photonic.hardware.names) and the Python quant API."""
import pytest
import torch

import torch_photonic.quant as quant
from torch_photonic import _C
from torch_photonic.hardware import names


def test_cpp_names_have_three_lists():
    got = _C._quant_names()
    assert set(got) == {"formats", "scalings", "scale_rules"}
    for values in got.values():
        assert values and all(isinstance(v, str) for v in values)
        assert len(set(values)) == len(values)


def test_cpp_names_equal_hardware_names():
    got = _C._quant_names()
    assert tuple(got["formats"]) == names.QUANT_FORMATS
    assert tuple(got["scalings"]) == names.SCALINGS
    assert tuple(got["scale_rules"]) == names.SCALE_RULES


def test_cpp_names_equal_quant_api():
    got = _C._quant_names()
    assert tuple(got["formats"]) == tuple(quant.formats())
    assert tuple(got["scalings"]) == tuple(quant.scalings())
    assert tuple(got["scale_rules"]) == tuple(quant.scale_rules())


def test_every_listed_name_parses_and_others_do_not():
    got = _C._quant_names()
    x = torch.randn(4, 256)
    for fmt in got["formats"]:
        for scaling in got["scalings"]:
            if scaling == "nvfp4" and fmt != "fp4_e2m1":
                continue
            for rule in got["scale_rules"]:
                torch.ops.photonic.fake_quantize(x, fmt, scaling, rule, False)
    valid = ", ".join(got["formats"])
    with pytest.raises(ValueError, match=f"valid formats: {valid}"):
        torch.ops.photonic.fake_quantize(x, "fp8_e3m4", "none", "floor", False)
    with pytest.raises(ValueError, match=", ".join(got["scalings"])):
        torch.ops.photonic.fake_quantize(x, "fp8_e4m3", "row", "floor", False)
    with pytest.raises(ValueError, match=", ".join(got["scale_rules"])):
        torch.ops.photonic.fake_quantize(x, "fp8_e4m3", "mx", "even", False)
