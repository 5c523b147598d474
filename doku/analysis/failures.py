"""Why customers failed, grouped by error code, with what to quote to DOKU support."""

from __future__ import annotations

import numpy as np
import pandas as pd

from doku.engine.schema import FAILED


# -- failures ----------------------------------------------------------------------------
def failures_by_code(customers: pd.DataFrame, examples: int = 3) -> pd.DataFrame:
    """Failed customers per error code, most first: error_code, error_kind (label),
    customers, example_request_ids (the first `examples` in input order, to quote to
    DOKU support) and example_customer_ids."""
    failed = customers[(customers["status"] == FAILED).to_numpy()]
    rows = []
    for code, group in failed.groupby("error_code", observed=True, sort=False):
        request_ids = [str(r) for r in group["request_id"].dropna().head(examples)]
        rows.append({
            "error_code": str(code),
            "error_kind": str(group["error_kind"].iloc[0]),
            "customers": len(group),
            "example_request_ids": ", ".join(request_ids),
            "example_customer_ids": ", ".join(map(str, group["customer_id"].head(examples))),
        })
    frame = pd.DataFrame(rows, columns=["error_code", "error_kind", "customers",
                                        "example_request_ids", "example_customer_ids"])
    frame["customers"] = frame["customers"].astype(np.int64)
    return frame.sort_values(["customers", "error_code"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)
