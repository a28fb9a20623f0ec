"""Masking secrets and personal data in text that leaves the process (log lines).

Patterns, not knowledge: anything shaped like an API key, a bearer token, a JWT, a
`key=value` credential or an e-mail address is replaced, whoever wrote it.
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # OpenAI-style keys: sk-..., sk-proj-..., sk-svcacct-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-[redacted]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|access[_-]?token|secret|password|passwd)"
            r"(\"?'?\s*[:=]\s*\"?'?)[^\s\"',;&]+"
        ),
        r"\1\2[redacted]",
    ),
    (
        re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        "[redacted-email]",
    ),
)


def redact(text: str) -> str:
    """`text` with every secret-looking or e-mail-looking substring masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
