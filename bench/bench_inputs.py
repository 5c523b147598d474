"""Input parsing speed: 1,000,000-row CSV with attributes, against pandas.read_csv.

pandas.read_csv is the baseline an analyst would reach for (it does no validation,
duplicate counting or reject reporting). Last line: one JSON object.
"""

from __future__ import annotations

import io
import json
import time

import pandas as pd

from doku.engine.inputs import parse_file


def main() -> None:
    n = 1_000_000
    rows = ["customer_id,region,plan"] + [f"CUST-{i:09d},region{i % 9},plan{i % 3}"
                                          for i in range(n)]
    data = ("\n".join(rows) + "\n").encode()
    started = time.perf_counter()
    parsed = parse_file(data, "big.csv")
    ours = time.perf_counter() - started
    started = time.perf_counter()
    frame = pd.read_csv(io.BytesIO(data), dtype=str)
    baseline = time.perf_counter() - started
    assert len(parsed.ids) == len(frame) == n
    print(f"doku.engine.inputs: {ours:.2f} s for {n:,} rows; pandas.read_csv: {baseline:.2f} s; "
          f"ratio {ours / baseline:.2f}")
    print(json.dumps({"rows": n, "parse_s": round(ours, 3), "read_csv_s": round(baseline, 3),
                      "ratio_vs_read_csv": round(ours / baseline, 2)}))


if __name__ == "__main__":
    main()
