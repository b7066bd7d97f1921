"""Shared frame of the text metrics computed by an upstream package (radgraph, RaTEScore) from catalogued weights.

It checks the packages and weights cheaply (`unavailable_reason`), validates the settings that take one of a few
named values, builds the text normalisation, and records the package version in the settings. By default the text
reaches the package as it is (`RAW_TEXT`: no lower-casing, punctuation kept; whitespace runs become one space).
"""
from __future__ import annotations

from importlib import metadata
from typing import Any, ClassVar

from xgem_bench.metrics.base import Metric, MetricUnavailable
from xgem_bench.text import TextNormalization

RAW_TEXT = TextNormalization(lowercase=False, punctuation="keep", tokenizer="whitespace").settings()


class UpstreamTextMetric(Metric):
    kind = "text"
    #: distributions that must be installed; the first one's version is recorded as setting "package"
    packages: ClassVar[tuple[str, ...]]
    #: setting -> the values it may take
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def invalid_setting(cls, settings: dict[str, Any]) -> str | None:
        for key, allowed in cls.choices.items():
            if settings[key] not in allowed:
                return f"{cls.name} setting {key} must be one of {', '.join(allowed)}, got {settings[key]!r}"
        return None

    @classmethod
    def unavailable_reason(cls, settings=None):
        for package in cls.packages:
            try:
                metadata.version(package)
            except metadata.PackageNotFoundError:
                return f"the {package} package is not installed; run `pip install 'xgem-bench[report-metrics]'`"
        settings = {**cls.default_settings(), **(settings or {})}
        problem = cls.invalid_setting(settings)
        if problem:
            return problem
        from xgem_bench import weights
        return weights.missing_weights_reason(cls.needed_weights(settings))

    @classmethod
    def needed_weights(cls, settings: dict[str, Any]) -> tuple[str, ...]:
        """The catalog entries these settings need (by default the class's `weights`)."""
        return cls.weights

    def __init__(self, context, **settings):
        super().__init__(context, **settings)
        problem = self.invalid_setting(self.settings)
        if problem:
            raise ValueError(problem)
        self.normalization = TextNormalization.from_settings(self.settings)
        reason = self.unavailable_reason(self.settings)
        if reason:
            raise MetricUnavailable(reason)
        self.settings["package"] = f"{self.packages[0]}=={metadata.version(self.packages[0])}"
        self._scorer = None  # the upstream scorer, loaded on first use
