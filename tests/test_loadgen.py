"""tinybench's scenarios against the real MLPerf LoadGen on the same SUT (skipped when it is not installed)."""
import re
import time

import numpy as np
import pytest

pytest.importorskip("mlperf_loadgen")

from tinybench.loadgen import LoadGenResult, parse_detail_log, parse_issue_delays, run_loadgen  # noqa: E402
from tinybench.scenarios import ArrayDataset, TestSettings, run  # noqa: E402
from tinybench.stats import early_stopping  # noqa: E402

DS = ArrayDataset(np.arange(64))


def sleep_sut(batch):
    time.sleep(2e-3)  # a known service time: what both load generators should report
    return [0] * len(batch)


def test_single_stream_p90_agrees_with_loadgen(tmp_path):
    """The same 2 ms sleep SUT under both load generators, back to back: p90s within 10%. On a shared machine the
    sleep's overshoot follows the load of the moment (a CI run saw ours 3.33 ms, LoadGen's 2.16 ms, one second apart,
    with other tests running alongside), so up to three back-to-back pairs are run and one must agree: a harness
    that adds its own latency would disagree in all three."""
    seen = []
    for k in range(3):
        ours = run(sleep_sut, DS, scenario="SingleStream", min_duration=1.0)
        theirs = run_loadgen(sleep_sut, DS, scenario="SingleStream", min_duration=1.0, log_dir=tmp_path / str(k))
        assert ours.valid and theirs.valid, (ours.reasons, theirs.reasons)
        assert (tmp_path / str(k) / "mlperf_log_summary.txt").exists()
        seen.append((ours.quantile(0.9), theirs.quantile(0.9)))
        if abs(seen[-1][0] - seen[-1][1]) / seen[-1][1] < 0.10:
            return
    raise AssertionError(f"p90 (ours, LoadGen) in seconds never within 10% in three pairs: {seen}")


def test_early_stopping_estimate_agrees_with_loadgen(tmp_path):
    theirs = run_loadgen(sleep_sut, DS, scenario="SingleStream", min_duration=0.5, log_dir=tmp_path)
    text = theirs.values["early_stopping_result"]
    n = int(re.search(r"queries \((\d+)\)", text).group(1))
    discarded = int(re.search(r"discard (\d+) highest", text).group(1))
    assert early_stopping(n, 1, 0.9, latencies=np.arange(n, dtype=float)).estimate_rank - 1 == discarded


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_server_verdict_agrees_at_half_and_twice_capacity(factor):
    """The latency bound is 0.5 s: at twice capacity the backlog passes it within the 2 s run; at half capacity the
    p99 is a few ms. A bound of 50 ms made tinybench's harness rule (p99 issue lateness < 10% of the bound) fail
    on a 2-core machine at load average ~5, where the OS left the issuing thread unscheduled for 6 ms at p99."""
    capacity = 1 / 2.1e-3  # one worker, ~2.1 ms per query (2 ms sleep plus its overshoot)
    kw = dict(scenario="Server", target_qps=factor * capacity, min_duration=2.0, target_latency=0.5)
    ours, theirs = run(sleep_sut, DS, **kw), run_loadgen(sleep_sut, DS, **kw)
    assert ours.valid == theirs.valid == (factor < 1), (ours.reasons, theirs.reasons)


def test_parse_detail_log_and_result_accessors(tmp_path):
    log = tmp_path / "mlperf_log_detail.txt"
    log.write_text(':::MLLOG {"key": "result_validity", "value": "INVALID"}\n'
                   ':::MLLOG {"key": "result_min_duration_met", "value": false}\n'
                   ':::MLLOG {"key": "result_90.00_percentile_latency_ns", "value": 2000000}\n'
                   'some other line\n')
    values = parse_detail_log(log)
    r = LoadGenResult(TestSettings(scenario="SingleStream"), values, str(tmp_path))
    assert not r.valid and r.reasons == ["min duration not met"] and r.quantile(0.9) == 2e-3
    assert "INVALID" in repr(r) and r.to_dict()["value"] == 2e-3


def test_parse_issue_delays_reads_loadgen_trace_lines(tmp_path):
    trace = tmp_path / "mlperf_log_trace.json"
    trace.write_text('{"traceEvents":[\n'
                     '{"name":"Scheduling","ph":"X","pid":1,"tid":1,"ts":1.0,"dur":0.1,"args":{}},\n'
                     '{"name":"Latency","ph": "C","pid":1,"ts":2.0,"args":{ "issue_delay":200,"issue_to_done":20489}},\n'
                     '{"name":"Latency","ph": "C","pid":1,"ts":3.0,"args":{ "issue_delay":92440,"issue_to_done":1}},\n'
                     '{"name":"LastTrace"}\n],\n"displayTimeUnit":"ns"}\n')
    np.testing.assert_allclose(parse_issue_delays(trace), [200e-9, 92440e-9])


def test_run_loadgen_trace_gives_issue_lateness_per_query(tmp_path):
    r = run_loadgen(sleep_sut, DS, scenario="Server", target_qps=100, min_duration=0.5, target_latency=0.05,
                    log_dir=tmp_path, trace=True)
    lt = r.issue_lateness
    assert len(lt) >= 40 and np.all(lt >= 0), lt  # ~50 queries at 100/s for 0.5 s, each issued at or after its schedule
    assert np.median(lt) < 2e-3  # an idle issuer is on time to well under one service time
