"""`sluice explain` on the bundled policy: the route and why, every guard in chain order with
what it would check for this request (the body's validation verdict, the idempotency keys), the
upstream; path spellings normalised; no route; nothing served and no Redis touched."""
import json
import subprocess

from conftest import REPO, SLUICE

ORDER = {"appid": "wxd678efh567hg6787", "mchid": "1900000001", "description": "tea", "out_trade_no": "T20260101-0001",
         "notify_url": "https://merchant.example/notify", "amount": {"total": 100, "currency": "CNY"},
         "payer": {"openid": "o4GgauInH_RCEdvrrNGrntXDu6D4"}}


def explain(*args, body=None, tmp_path=None):
    argv = [str(SLUICE), "explain", "--policy", str(REPO / "policies"), *args]
    if body is not None:
        path = tmp_path / "body.json"
        path.write_text(json.dumps(body))
        argv += ["--body-file", str(path)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_payment_route_lists_its_guards_in_chain_order(tmp_path):
    text = explain("--method", "POST", "--path", "/v3/pay/transactions/jsapi", "-H", 'Idempotency-Key: "k-1"', body=ORDER, tmp_path=tmp_path)
    assert "route: wechat-v3-jsapi-pay (exact path /v3/pay/transactions/jsapi, methods POST), class core" in text
    guards = [line.split(". ", 1)[1].split(":")[0] for line in text.splitlines() if line.startswith("  ") and ". " in line]
    assert guards == ["degrade", "auth", "validation", "idempotency", "ratelimit", "bulkhead", "breaker"], text
    assert "rule wechat-v3-order: 9 fields (mchid must be the verified merchant: not checked here); the body passes" in text
    assert 'this request\'s keys: header "k-1", business mchid,out_trade_no 1900000001 T20260101-0001' in text
    assert "bulkhead: payments: 512 in flight" in text and "breaker: payments: opens when 50% of the last 50 calls fail" in text
    # explain verifies no signature: a merchant-keyed limit says its `-` is not the served key.
    assert "pay-per-merchant (key rl:tb:{pay-per-merchant|-|wechat-v3-jsapi-pay}; merchant is `-` here: " \
           "the signature's merchant when served)" in text, text
    assert "upstream: cluster payments [127.0.0.1:9001]" in text


def test_explain_shows_which_validation_rule_would_fail_and_normalises_paths(tmp_path):
    text = explain("--method", "POST", "--path", "/v3/pay//transactions/./jsapi", body={**ORDER, "amount": {"total": 1.5}}, tmp_path=tmp_path)
    assert "(normalised: /v3/pay/transactions/jsapi)" in text
    assert "the body would be refused: 400 wrong_type (amount.total must be an integer" in text


def test_no_route_and_a_refused_path():
    assert "route: none matches: 404 no_route" in explain("--path", "/nowhere")
    assert "refused before routing: 400" in explain("--path", "/v3/%2e%2e/%2e%2e/etc")


def test_targets_are_taken_as_the_proxy_takes_them():
    """An absolute-form target is served by its path (RFC 9112 §3.2.2) and `health` or `*` is
    400 before routing, but explain said 404 no_route for all of them."""
    for target in ["http://pay.example/health", "HTTP://127.0.0.1:8080/health"]:
        text = explain("--path", target)
        assert "(normalised: /health)" in text and "route: health " in text, text
    assert "refused before routing: 400 invalid_target" in explain("--path", "health")
    assert "refused before routing: 400 invalid_target" in explain("--path", "*")
    assert "refused before routing: 400 absolute_form_not_supported" in explain("--path", "ftp://x/health")


def test_json_output():
    answer = json.loads(explain("--method", "GET", "--path", "/v3/pay/transactions/out-trade-no/T1?mchid=1900000001", "--json"))
    assert answer["route"] == "wechat-v3-query-order"
    assert [step["guard"] for step in answer["guards"]] == ["degrade", "auth", "degrade_fallback", "ratelimit", "bulkhead", "breaker"]
    assert answer["upstream"].startswith("cluster payments")

