"""Where the bundled rules, SLA policy, model and examples live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_ROOT = _PACKAGE_DIR.parent.parent


def bundled(relative: str) -> Path:
    """Path of a bundled file such as ``rules/severity.yaml``.

    A wheel carries them under ``sevtriage/_bundled``; an editable install or a checkout reads the
    top-level folders of the repository.
    """
    inside_wheel = _PACKAGE_DIR / "_bundled" / relative
    if inside_wheel.exists():
        return inside_wheel
    return _CHECKOUT_ROOT / relative


def default_rules_path() -> Path:
    return bundled("rules/severity.yaml")


def default_sla_path() -> Path:
    return bundled("rules/sla.yaml")


def default_lexicon_path() -> Path:
    return bundled("rules/lexicon.yaml")


def default_model_path() -> Path:
    return bundled("models/severity-model.joblib")


def example_requests_path() -> Path:
    return bundled("examples/requests.jsonl")


def default_snippets_path() -> Path:
    """The first-response wording the review desk offers (`rules/first-response.yaml`)."""
    return bundled("rules/first-response.yaml")
