"""Cloud escalation: confidence signals and their calibrated score, the routing policy, privacy redaction, the
OpenAI-compatible cloud client with its circuit breaker, and the audit log. The `Assistant` composes them."""
