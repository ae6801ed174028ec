"""The concurrent garbage collector model: heap, roots, mark, pacer, cycle, workers, assists.

Named ``collector``, not ``gc``: the public function ``aiogc.gc()`` (Go's ``runtime.GC``) and a
package ``aiogc.gc`` cannot share the name (importing a submodule rebinds the package attribute),
which used to need an import-order hack in ``aiogc/__init__.py``.
"""
