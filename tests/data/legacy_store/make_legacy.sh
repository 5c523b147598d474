set -e
export DOKU_DATA_DIR=/tmp/legacy/data
rm -rf /tmp/legacy/data
D=.venv/bin/doku
head -301 samples/customers.csv > /tmp/legacy/c300.csv
$D audit /tmp/legacy/c300.csv --quiet --json --name "Oct month-end" --note "first look" > /dev/null
$D audit /tmp/legacy/c300.csv --quiet --json --type CREDIT_CARD > /dev/null
printf 'CUST-10001\nCUST-10002\nbad id with spaces\nCUST-10003\nCUST-10002\n' | $D audit - --quiet --json --store-token-ids > /dev/null || true
.venv/bin/python - <<'PY'
from doku.engine.store import Store
s = Store()
s.record_failed(3, "CUST-10003", error_code="rate_limited", error_message="HTTP 429 <b>slow down</b>", attempts=4, http_status=429, request_id="req-legacy-1")
s.set_status(3, "done")
rid = s.create_run(ids=["A-1", "A-2", "A-3"], attribute_values={"segment": ["x", "y", "x"]}, attribute_columns=["segment"], env="simulator", base_url="http://127.0.0.1:1", client_id="MCH-LEGACY", input_name="paste", token_type="DIRECT_DEBIT", options={"concurrency": 2}, name=None, note=None)
from doku.models import Token
s.set_status(rid, "interrupted", "server restarted")
s.set_archived(2, True)
s.close()
PY
