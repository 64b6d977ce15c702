"""The `ddllm` command: validate, push, terraform, doctor, demo (with its fake provider).
Never imported by the runtime (`ddllm.instrument`)."""
