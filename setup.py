"""Build of isoperf's one compiled piece: the lane-parallel kernels (src/isoperf/solve/_*_lanes.cpp, _lanes.h).

Everything else is configured in pyproject.toml. The extension is optional: without a C++17 compiler the install
succeeds and isoperf uses its numba kernels for the same work (isoperf.solve._lanes.available() tells).
The kernels are compiled for the machine they are installed on (-march=native where the compiler accepts it);
ISOPERF_PORTABLE=1 at build time leaves that out (a wheel meant for other machines). The kernels are written for
eight lanes of one AVX-512 register; built without AVX-512 they are correct but slower than the numba kernels
(measured on the benchmark machine, variant B with curves: ~5x slower for baseline x86-64, ~7x for x86-64-v3),
so isoperf then uses the numba kernels unless ISOPERF_LANES=1 asks for them (isoperf.solve._lanes).
"""

from __future__ import annotations

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SRC = "src/isoperf/solve"
FLAGS = ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast", "-Wno-psabi"]


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        native = (["-march=native"] if self.compiler.compiler_type == "unix" and not os.environ.get("ISOPERF_PORTABLE")
                  and _accepts(self, "-march=native") else [])
        for ext in self.extensions:
            ext.extra_compile_args = [*FLAGS, *native]
        super().build_extensions()


def _accepts(cmd: build_ext, flag: str) -> bool:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.cpp")
        with open(src, "w") as f:
            f.write("int main() { return 0; }\n")
        try:
            cmd.compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
        except Exception:  # noqa: BLE001 - any compiler failure means: do not use the flag
            return False
    return True


setup(
    ext_modules=[Extension("isoperf.solve._lanes_c", [f"{SRC}/_lanes_module.cpp", f"{SRC}/_expo_lanes.cpp",
                                                      f"{SRC}/_exact_lanes.cpp"],
                           depends=[f"{SRC}/_lanes.h"], language="c++", optional=True)],
    cmdclass={"build_ext": BuildExt},
)
