"""The optional C extension (everything else is in pyproject.toml): the index tree's fold,
``ledger.index._native``.  ``optional=True``: without a compiler or OpenSSL's headers the
install goes on and the pure-Python fold runs (docs/proofs.md §10.3, "The fold in C")."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ledger.index._native",
            sources=["ledger/index/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"],
            optional=True,
        )
    ]
)
