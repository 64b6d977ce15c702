"""`make demo` runs on its own (no agent, no network) and shows each attempt of a fallback."""
import subprocess
import sys


def test_demo_prints_attempt_trees():
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm.demo"], capture_output=True, text=True, timeout=180
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert out.count("llm.request") == 3
    assert "└─ llm.attempt anthropic/claude-3-5-haiku-20241022" in out
    assert "type=context_window" in out
    assert "ttft=" in out
    assert "Traceback" not in completed.stderr
