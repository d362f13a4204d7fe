"""PassManager: pipelines, verification between passes, dumps, report, bisecting switches."""
from __future__ import annotations

import numpy as np
import pytest

from ir import BATCH, Graph, Op, TensorType, VerificationError, print_graph
from passes import (DISABLE_ENV, DUMP_ENV, Pass, PassManager, PassResult, constant_folding, dce,
                    make_pass, shape_inference)
from passes.pass_manager import DUMP_ENV_ALIASES
from tests.passes.helpers import F32, assert_same_semantics, mlp_graph, op_names

STAGES = ["shape_inference", "constant_folding", "dce"]


def default_pipeline() -> list[Pass]:
    """A fixed three-pass pipeline: these tests are about the manager, not passes.pipeline."""
    return [make_pass(shape_inference), make_pass(constant_folding), make_pass(dce)]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """The switches are read from the environment: start every test without them."""
    for name in (DUMP_ENV, *DUMP_ENV_ALIASES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(DISABLE_ENV, raising=False)


def folding_graph() -> Graph:
    """x + exp(c) * 2, with an unused constant: every default pass has work except inference."""
    g = Graph("fold")
    x = g.add_input(TensorType(F32, (BATCH, 3)), "x")
    c = g.add_constant(np.array([0.0, 1.0, 2.0], np.float32), name="c")
    g.add_constant(np.float32(9.0), name="unused")
    e = g.add_node(Op.EXP, [c], name="e").output
    s = g.add_node(Op.MUL, [e, g.add_constant(np.float32(2.0), name="two")], name="s").output
    g.set_outputs([g.add_node(Op.ADD, [x, s], name="out").output])
    return g


def break_types(graph: Graph) -> PassResult:
    """A deliberately wrong pass: gives a node output a type its op cannot produce."""
    graph.nodes[-1].output.type = TensorType(F32, (BATCH, 99))
    return PassResult(graph, True)


def test_default_pipeline_runs_and_reports():
    g = folding_graph()
    before, _ = g.copy()
    pm = PassManager(default_pipeline())
    out = pm.run(g)
    assert op_names(out) == ["constant", "add"]
    assert_same_semantics(before, out, batches=(1, 7))
    assert [(r.name, r.changed, r.skipped) for r in pm.report] == [
        ("shape_inference", False, None), ("constant_folding", True, None), ("dce", True, None)]
    assert [r.nodes for r in pm.report] == [6, 6, 2]
    assert all(r.seconds is not None and r.seconds >= 0 for r in pm.report)
    table = pm.format_report().splitlines()
    assert table[0].split() == ["pass", "time", "(ms)", "changed", "nodes"]
    assert [line.split()[0] for line in table[1:]] == STAGES + ["total"]
    assert table[2].split()[2:] == ["yes", "6"]


def test_report_is_per_run_and_timing_can_be_off():
    pm = PassManager(default_pipeline(), timing=False)
    pm.run(folding_graph())
    pm.run(mlp_graph())
    assert [r.changed for r in pm.report] == [False, False, False]
    assert all(r.seconds is None for r in pm.report)
    assert "total" in pm.format_report() and "0.000" not in pm.format_report()


def test_dump_dir_holds_the_ir_after_each_pass(tmp_path):
    out = PassManager(default_pipeline(), dump_dir=tmp_path / "ir").run(folding_graph())
    files = sorted(p.name for p in (tmp_path / "ir").iterdir())
    assert files == ["00_input.hir", "01_shape_inference.hir", "02_constant_folding.hir", "03_dce.hir"]
    assert (tmp_path / "ir" / "00_input.hir").read_text() == print_graph(folding_graph()) + "\n"
    assert (tmp_path / "ir" / "03_dce.hir").read_text() == print_graph(out) + "\n"
    folded = (tmp_path / "ir" / "02_constant_folding.hir").read_text()
    assert "exp(" not in folded and "%unused = constant()" in folded


def test_dump_env_var_turns_dumping_on_and_the_argument_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(DUMP_ENV, str(tmp_path / "env"))
    PassManager([make_pass(constant_folding)]).run(folding_graph())
    assert sorted(p.name for p in (tmp_path / "env").iterdir()) == [
        "00_input.hir", "01_constant_folding.hir"]
    PassManager([make_pass(constant_folding)], dump_dir=tmp_path / "arg").run(folding_graph())
    assert (tmp_path / "arg" / "01_constant_folding.hir").exists()
    assert len(list((tmp_path / "env").iterdir())) == 2
    monkeypatch.delenv(DUMP_ENV)
    monkeypatch.setenv(DUMP_ENV_ALIASES[0], str(tmp_path / "old_name"))
    PassManager([make_pass(constant_folding)]).run(folding_graph())
    assert (tmp_path / "old_name" / "01_constant_folding.hir").exists()


def test_verification_failure_names_the_pass_and_dumps_the_broken_ir(tmp_path):
    pipeline = [*default_pipeline(), Pass("break_types", break_types)]
    with pytest.raises(VerificationError, match=r"(?s)after pass break_types: .*node out .*f32\[N,99\]"):
        PassManager(pipeline, dump_dir=tmp_path).run(folding_graph())
    assert "f32[N,99]" in (tmp_path / "04_break_types.hir").read_text()


def test_verification_can_be_turned_off():
    out = PassManager([Pass("break_types", break_types)], verify=False).run(folding_graph())
    assert out.outputs[0].type == TensorType(F32, (BATCH, 99))


def test_a_broken_input_is_blamed_on_the_input():
    g = folding_graph()
    break_types(g)
    with pytest.raises(VerificationError, match="in the input graph, before any pass"):
        PassManager(default_pipeline()).run(g)


def test_disable_env_var_skips_named_passes(tmp_path, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, " constant_folding,dce ")
    pm = PassManager(default_pipeline(), dump_dir=tmp_path)
    out = pm.run(folding_graph())
    assert op_names(out) == op_names(folding_graph())
    assert [r.skipped for r in pm.report] == [None, DISABLE_ENV, DISABLE_ENV]
    assert f"skipped ({DISABLE_ENV})" in pm.format_report()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00_input.hir", "01_shape_inference.hir"]


def test_disabling_only_dce_leaves_dead_constants():
    pm = PassManager([*default_pipeline()[:2], Pass("dce", default_pipeline()[2].fn, enabled=False)])
    out = pm.run(folding_graph())
    assert op_names(out).count("constant") == 5 and "exp" not in op_names(out)
    assert pm.report[-1].skipped == "disabled"


def test_make_pass_binds_and_checks_options():
    p = make_pass(constant_folding, name="small_folding", max_elements=2)
    assert p.name == "small_folding"
    out = PassManager([p]).run(folding_graph())
    assert "exp" in op_names(out)  # a 3-element result exceeds max_elements=2
    with pytest.raises(TypeError, match="constant_folding: .*max_elemnts"):
        make_pass(constant_folding, max_elemnts=2)


def test_bad_pipeline_entries_are_rejected():
    with pytest.raises(ValueError, match="identifier"):
        Pass("../escape", constant_folding)
    with pytest.raises(TypeError, match="Pass records"):
        PassManager([constant_folding])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="pass returns_graph must return a PassResult"):
        PassManager([Pass("returns_graph", lambda g: g)]).run(folding_graph())
