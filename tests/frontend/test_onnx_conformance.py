"""ONNX's own backend node tests, run through Horn's compiled CPU path
(import -> trace -> passes -> LLVM -> Executable), for every op Horn claims.

A claimed op passes every case, except cases unsupported for a reason Horn
lacks by design (a dtype, a non-tensor type, another runtime's random stream)
or written down in ``DOCUMENTED_GAPS``. LLVM runs at opt level 1 here to keep
the run short; the checked-in report (docs/onnx_conformance.md) is made at 3.
"""
from __future__ import annotations

import dataclasses

import pytest

from frontend.onnx_import import conformance, registry
from frontend.onnx_import.conformance import BY_DESIGN, CLAIMED_OPS, DOCUMENTED_GAPS


@pytest.fixture(scope="module")
def cases():
    return conformance.collect_cases()


@pytest.fixture(scope="module")
def results(cases):
    return conformance.run(CLAIMED_OPS, opt_level=1, cases=cases)


def test_every_case_of_a_claimed_op_passes(results):
    failed = [f"{r.name} ({r.op}): {r.detail}" for r in results if r.status == "failed"]
    assert not failed, "\n".join(failed)


def test_unsupported_cases_have_checked_in_reasons(results):
    undocumented = [f"{r.name} ({r.op}, {r.category}): {r.detail}" for r in results
                    if r.status == "unsupported" and not set(r.category.split(",")) <= BY_DESIGN
                    and r.name not in DOCUMENTED_GAPS]
    assert not undocumented, "\n".join(undocumented)


def test_documented_gaps_are_still_gaps(results):
    status = {r.name: r.status for r in results}
    stale = [name for name in DOCUMENTED_GAPS if status.get(name) != "unsupported"]
    assert not stale, f"these cases now pass or are gone; drop them from DOCUMENTED_GAPS: {stale}"


def test_each_claimed_op_is_imported_and_passes_cases(results):
    assert CLAIMED_OPS <= set(registry.supported_op_types())
    passing = {r.op for r in results if r.status == "passed"}
    assert CLAIMED_OPS - passing == set()
    # The bulk of the suite runs: hundreds of cases, most of them passing.
    assert len(results) > 900 and sum(r.status == "passed" for r in results) > 700


def test_the_checked_in_report_is_current(results):
    text = conformance.REPORT.read_text()
    assert conformance.total_line(results) in text, (
        "docs/onnx_conformance.md is stale: run `python -m frontend.onnx_import.conformance`")


def test_the_harness_catches_a_wrong_importer(cases, monkeypatch):
    # An importer that forgets to transpose must fail its cases, not pass or be skipped.
    registry._load()
    wrong = dataclasses.replace(registry.IMPORTERS["Transpose"], fn=lambda n: n.input(0))
    monkeypatch.setitem(registry.IMPORTERS, "Transpose", wrong)
    results = conformance.run({"Transpose"}, opt_level=0, cases=cases)
    statuses = {r.name: r.status for r in results}
    assert statuses["test_transpose_default"] == "failed"
    assert statuses["test_transpose_all_permutations_0"] == "passed"   # the identity permutation


def test_unsupported_dtypes_are_classified_as_such(results):
    by_name = {r.name: r for r in results}
    assert by_name["test_add_uint16"].status == "unsupported"
    assert by_name["test_add_uint16"].category == "dtype"
    assert "UINT16" in by_name["test_add_uint16"].detail
    assert by_name["test_add_int8"].status == "passed"
