// The importable (empty) module of isoperf's lane-parallel kernels (_expo_lanes.cpp, _exact_lanes.cpp): the build
// and the import system find the library through it; its functions are called through ctypes from numba
// (solve/_lanes.py).
#include <Python.h>

// whether the kernels were compiled for AVX-512 (eight lanes in one register); without it they are correct but
// slower than the numba kernels, and isoperf does not use them unless asked to (solve/_lanes.py)
extern "C" int lanes_avx512(void) {
#if defined(__AVX512F__)
    return 1;
#else
    return 0;
#endif
}

static struct PyModuleDef lanes_module = {PyModuleDef_HEAD_INIT, "_lanes_c",
                                          "isoperf's lane-parallel kernels (called through ctypes).", -1,
                                          nullptr, nullptr, nullptr, nullptr, nullptr};

PyMODINIT_FUNC PyInit__lanes_c(void) { return PyModule_Create(&lanes_module); }
