"""Builds torch_photonic._C, the C++ half of the photonic device backend.

Every ``.cpp`` file under ``csrc/`` is compiled into one extension with
``torch.utils.cpp_extension`` and ninja; there is no CMake step.
"""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

HERE = os.path.dirname(os.path.abspath(__file__))
sources = sorted(glob.glob(os.path.join("csrc", "**", "*.cpp"), recursive=True))

extra_compile_args = ["-O3", "-std=c++17", "-fopenmp", "-Wno-unused-parameter"]
if os.environ.get("TORCH_PHOTONIC_DEBUG") == "1":
    extra_compile_args = ["-O0", "-g", "-std=c++17", "-fopenmp"]

setup(
    packages=find_packages(include=["torch_photonic", "torch_photonic.*"]),
    package_data={"torch_photonic": ["energy/data/*.json", "hardware/presets/*.toml",
                                     "models/data/deepseek_tiny/*"]},
    ext_modules=[
        CppExtension(
            name="torch_photonic._C",
            sources=sources,
            include_dirs=[os.path.join(HERE, "csrc")],
            extra_compile_args=extra_compile_args,
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
