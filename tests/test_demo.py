"""`ddllm demo` (and `make demo`): a few hundred requests against the embedded fake provider,
with no agent and no network; its figures agree with the DogStatsD lines it captured."""
import json
import subprocess
import sys

from ddllm import cli


def test_demo_json_agrees_with_the_metrics_it_captured(tmp_path, capsys):
    path = tmp_path / "demo.json"
    assert cli.main(["demo", "--requests", "30", "--seed", "3", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    summary = json.loads(path.read_text())
    metrics = summary["metrics"]
    assert summary["requests"] == summary["spans"]["requests"] == metrics["ddllm.request.duration"] == 30
    assert sum(summary["attempts"].values()) == summary["spans"]["attempts"] == metrics["ddllm.attempt.duration"]
    assert summary["attempts"] == summary["metric_attempts"]  # per model, spans and metrics alike
    assert sum(hop["count"] for hop in summary["fallbacks"]) == metrics["ddllm.fallback"]
    reasons = {hop["reason"] for hop in summary["fallbacks"]}
    assert {"RateLimitError", "ContextWindowExceededError"} <= reasons
    assert sum(summary["rate_limited"].values()) > 0
    assert summary["ttft_ms_p95"]  # streamed requests were made
    assert "Attempt trees" in out and "Fallback flow" in out and "openai/gpt-4o-mini" in out


def test_make_demo_runs_on_its_own():
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm.demo", "--requests", "20"], capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Per model" in completed.stdout and "llm.request" in completed.stdout
    assert "20/20 requests" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_demo_sends_to_a_real_agent(agent):
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm.demo", "--requests", "12", "--agent", agent.url],
        capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    names = [span["name"] for trace in agent.traces() for span in trace]
    assert names.count("llm.request") == 12
    assert names.count("llm.attempt") >= 12
