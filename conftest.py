"""Suite-wide collection rules: the package's doctests run with the tests.

``testpaths`` lists ``cnncompile`` so that ``--doctest-modules`` imports every module of the
package and runs its examples. Packages that need an optional extra are left out of that
collection: importing them needs the extra (and torch alone takes seconds to import); their
own tests under ``tests/`` cover them, skipping with a reason where the extra is missing.
"""

collect_ignore_glob = [
    "cnncompile/backends/torch",  # the `torch` extra
    "cnncompile/backends/torch/*",
]
