// The importable (empty) module of isoperf's lane-parallel kernels (_expo_lanes.cpp, _exact_lanes.cpp): the build
// and the import system find the library through it; its functions are called through ctypes from numba
// (solve/_lanes.py).
#include <Python.h>

static struct PyModuleDef lanes_module = {PyModuleDef_HEAD_INIT, "_lanes_c",
                                          "isoperf's lane-parallel kernels (called through ctypes).", -1,
                                          nullptr, nullptr, nullptr, nullptr, nullptr};

PyMODINIT_FUNC PyInit__lanes_c(void) { return PyModule_Create(&lanes_module); }
