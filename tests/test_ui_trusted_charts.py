"""Charts drawn without Altair's second schema validation give the same spec."""

from __future__ import annotations

import pandas as pd
import pytest

from doku.analysis import charts
from ui.insights_charts import trusted

ISSUERS = pd.DataFrame({"issuer": ["BCA", "BRI"], "type": ["CREDIT_CARD", "DIRECT_DEBIT"],
                        "tokens": [3, 2]})


def test_the_spec_is_the_validated_one_and_trusting_twice_does_not_nest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chart = charts.issuer_chart(ISSUERS, "run #1")
    want = chart.to_dict()
    same = trusted(trusted(chart))
    assert same is chart
    calls: list[bool] = []

    def counted(*_args: object, **_kwargs: object) -> None:
        calls.append(True)

    monkeypatch.setattr(type(chart), "validate", counted)
    charts.issuer_chart(ISSUERS, "run #1").to_dict()
    assert calls == [True]  # an untrusted chart is validated
    assert same.to_dict() == want
    assert calls == [True]  # the trusted one is not
    assert "validate" not in same.to_dict()  # the spec itself is untouched
