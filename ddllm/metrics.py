"""DogStatsD metrics of attempts and requests (the catalogue is `ddllm.catalogue.METRICS`).

Placeholder until the metrics issue lands: the tracing steps already call these.
"""


def record_attempt(facts):
    """One finished attempt (`ddllm.tracing.Attempt.facts`)."""


def record_request(state, outcome, duration):
    """One finished logical request (`ddllm.request_state.RequestState`)."""


def configure(config):
    """Called by `ddllm.patch()` with the loaded `ddllm.config.Config`."""
