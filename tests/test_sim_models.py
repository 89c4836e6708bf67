"""The simulation infrastructure itself: runner, memory models, checkers and CSR masters, on small Verilog fixtures."""

import multiprocessing
import re
import shutil
from pathlib import Path

import pytest

from hauler import Config
from hauler.sim import runner


FIXTURES = Path(__file__).parent / "fixtures"


def _run_fixture(fixture, bench, **kwargs):
    runner.run(None, f"hauler.sim.benches.{bench}", verilog=FIXTURES / f"{fixture}.v", toplevel=fixture, **kwargs)


def _remove_run_dir(error):
    """Failed runs keep their directory for inspection; a deliberate failure need not."""
    shutil.rmtree(re.search(r"log (\S+)/sim\.log\]", str(error)).group(1))


def test_axi_memory_and_checker():
    _run_fixture("axi_loop", "selftest_axi")


def test_checker_fails_the_running_test():
    expected = r"fail_fast: AxiMasterChecker\(m_axi\): AR: valid dropped before ready"
    with pytest.raises(AssertionError, match=expected) as failure:
        _run_fixture("axi_loop", "selftest_axi", testcase="fail_fast")
    _remove_run_dir(failure.value)


def test_wishbone_memory_and_checker():
    _run_fixture("wb_loop", "selftest_wb")


def test_csr_masters_and_checkers():
    _run_fixture("csr_regs", "selftest_csr")


def test_run_rejects_a_module_it_cannot_import():
    with pytest.raises(ValueError, match="not importable"):
        _run_fixture("axi_loop", "no_such_bench")


def test_run_fails_when_no_test_matches():
    with pytest.raises(AssertionError, match="no test ran") as failure:
        _run_fixture("wb_loop", "selftest_wb", testcase="no_such_test")
    _remove_run_dir(failure.value)


@pytest.fixture
def fake_generation(tmp_path, monkeypatch):
    """A throwaway hdl/ tree and a slow generator that logs each call (it runs in forked workers too)."""
    hdl = tmp_path / "hdl"
    hdl.mkdir()
    (hdl / "top.py").write_text("WIDTH = 1\n")
    calls = tmp_path / "calls"

    def generate(config):
        with open(calls, "a") as f:
            f.write(config.key() + "\n")
        import time
        time.sleep(0.2)  # widen the window in which concurrent callers could race
        return f"module hauler_dma; // {config.key()}\nendmodule\n"

    monkeypatch.setattr(runner, "_HDL_DIR", hdl)
    monkeypatch.setattr(runner, "_generate_text", generate)
    monkeypatch.setenv("HAULER_BUILD_DIR", str(tmp_path / "build"))
    return hdl, lambda: calls.read_text().split() if calls.exists() else []


def test_verilog_for_regenerates_only_when_hdl_changes(fake_generation):
    hdl, calls = fake_generation
    config = Config()
    path = runner.verilog_for(config)
    assert path == runner.build_root() / config.key() / "hauler_dma.v"
    assert config.key() in path.read_text()
    mtime = path.stat().st_mtime_ns
    assert runner.verilog_for(config) == path
    assert len(calls()) == 1

    (hdl / "top.py").write_text("WIDTH = 2\n")
    assert runner.verilog_for(config) == path
    assert len(calls()) == 2
    assert path.stat().st_mtime_ns == mtime, "identical output must keep the file, so Icarus does not rebuild"

    other = Config(channels=3)
    assert runner.verilog_for(other) != path
    assert calls() == [config.key(), config.key(), other.key()]


def test_verilog_for_generates_once_for_concurrent_callers(fake_generation):
    _, calls = fake_generation
    with multiprocessing.get_context("fork").Pool(4) as pool:
        paths = pool.map(runner.verilog_for, [Config()] * 4)
    assert len(set(paths)) == 1
    assert calls() == [Config().key()]
    assert sorted(p.name for p in paths[0].parent.iterdir()) == [".lock", "hauler_dma.v", "hauler_dma.v.digest"]
