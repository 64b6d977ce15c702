"""What runs inside the user's process: patching, request and attempt facts, spans, LLM
Observability, streams, metrics, configuration and the safety guard.

Nothing here imports `ddllm.assets` or `ddllm.cli`: a production process loads the runtime
and nothing else (a test holds this).
"""
