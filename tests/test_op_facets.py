"""The op x facet matrix (DESIGN: every op has all its facets). ``pytest -s`` prints it.

Fails on a hole not listed in ir.facets.KNOWN_GAPS / KNOWN_OP_GAPS, and on a
listed gap that no longer excuses anything (so the list shrinks as issues land).
"""
from __future__ import annotations

import sys

import pytest

from ir import Op, registered_ops
from ir.facets import (FACETS, KNOWN_GAPS, KNOWN_OP_GAPS, Facet, FacetRegistryError, absent_registries,
                       facet_matrix, format_facet_matrix, holes, stale_gaps)


def test_print_matrix_and_fail_on_unlisted_holes():
    matrix = facet_matrix()
    print("\n" + format_facet_matrix(matrix))
    missing = holes(matrix)
    assert not missing, ("ops missing a facet that is not a known gap (add the facet, or list it in "
                         "ir/facets.py with the issue that fills it):\n  "
                         + "\n  ".join(f"{op}: {facet}" for op, facet in missing))


def test_no_stale_known_gaps():
    assert stale_gaps() == [], "these known gaps are filled now; remove them from ir/facets.py"


def test_matrix_covers_every_op_and_facet():
    matrix = facet_matrix()
    assert set(matrix) == set(Op)
    assert set(registered_ops()) == set(Op)
    names = [f.name for f in FACETS]
    assert names == ["shape_rule", "reference", "vjp", "cpu", "gpu", "onnx"]
    assert all(list(row) == names for row in matrix.values())
    assert set(KNOWN_GAPS) <= set(names)
    assert all(facet in names for _, facet in KNOWN_OP_GAPS)


def test_facets_that_exist_have_no_known_gap():
    # A facet whose registry is absent must be a known gap; one that exists
    # must not hide behind a blanket entry once complete (stale_gaps) ...
    assert set(absent_registries()) <= set(KNOWN_GAPS)
    # ... and the ir, VJP and CPU facets are complete today.
    matrix = facet_matrix()
    for facet in ("shape_rule", "reference", "vjp", "cpu"):
        assert facet not in KNOWN_GAPS
        assert all(row[facet] for row in matrix.values()), facet


def test_cpu_facet_counts_compiler_handled_ops():
    from codegen.cpu.kernel import CPU_LOWERINGS
    matrix = facet_matrix()
    assert Op.CONSTANT not in CPU_LOWERINGS and matrix[Op.CONSTANT]["cpu"]
    assert matrix[Op.RESHAPE]["cpu"]


def test_format_marks_known_gaps_and_holes():
    matrix = facet_matrix()
    matrix[Op.ADD] = dict(matrix[Op.ADD], cpu=False)
    text = format_facet_matrix(matrix)
    add_row = next(ln for ln in text.splitlines() if ln.startswith("add "))
    assert add_row.split() == ["add", "+", "+", "+", "HOLE", "gap", "+"]
    assert "known gap: gpu -> a later GPU issue" in text
    assert holes(matrix) == [(Op.ADD, "cpu")]


# -- the lookup by module path: a registry that appears becomes a real facet --
@pytest.fixture
def package(tmp_path, monkeypatch):
    """Writes a throwaway package ``name`` with ``files`` (module -> source) onto sys.path."""
    made: list[str] = []

    def write(name: str, files: dict[str, str]) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        for module, source in files.items():
            (tmp_path / name / f"{module}.py").write_text(source)
        made.append(name)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for key in [k for k in sys.modules if k.split(".")[0] in made]:
        del sys.modules[key]


def test_absent_registry_is_a_hole_for_every_op():
    assert Facet("vjp", "horn_test_absent.autodiff:VJP_RULES").covered() is None
    matrix = facet_matrix()
    for facet in absent_registries():
        assert not any(row[facet] for row in matrix.values())


def test_present_registry_is_used(package):
    package("horn_test_present", {"autodiff": "from ir import Op\nVJP_RULES = {Op.ADD: 1, Op.MUL: 2}\n"})
    assert Facet("vjp", "horn_test_present.autodiff:VJP_RULES").covered() == {Op.ADD, Op.MUL}


def test_loaders_fill_the_registry_and_extra_ops_count(package):
    # As in codegen/cpu: the table lives in one module, emitters register into it on import.
    package("horn_test_gpu", {
        "kernel": "GPU_LOWERINGS = {}\n",
        "lowerings": "from ir import Op\nfrom horn_test_gpu.kernel import GPU_LOWERINGS\n"
                     "GPU_LOWERINGS[Op.NEG] = None\n",
    })
    facet = Facet("gpu", "horn_test_gpu.kernel:GPU_LOWERINGS", loaders=("horn_test_gpu.lowerings",),
                  extra=lambda: {Op.CONSTANT})
    assert facet.covered() == {Op.NEG, Op.CONSTANT}


def test_present_module_without_its_table_is_an_error(package):
    package("horn_test_renamed", {"autodiff": "VJP_TABLE = {}\n"})
    facet = Facet("vjp", "horn_test_renamed.autodiff:VJP_RULES")
    with pytest.raises(FacetRegistryError, match=r"facet vjp: module horn_test_renamed.autodiff exists but "
                                                 r"has no VJP_RULES"):
        facet.covered()


def test_a_broken_import_inside_a_registry_is_an_error(package):
    package("horn_test_broken", {"onnx_map": "import horn_test_not_installed\nONNX_MAPPINGS = {}\n"})
    facet = Facet("onnx", "horn_test_broken.onnx_map:ONNX_MAPPINGS")
    with pytest.raises(ModuleNotFoundError, match="horn_test_not_installed"):
        facet.covered()
