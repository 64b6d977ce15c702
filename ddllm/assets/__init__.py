"""What works on the shipped dashboard and monitor JSON: loading, validation, push and the
Terraform export. Never imported by the runtime (`ddllm.instrument`)."""
