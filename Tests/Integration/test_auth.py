"""Merchant auth against the real binary, the demo backend and a real redis-server: every
failure is 401 with its code and the backend sees nothing; a good signature passes and the
backend learns the verified merchant; nonces are single-use across two gateways sharing Redis;
secrets rotate through a reload; Redis going away follows the failure mode.

Requests are signed here with Python's own hmac/hashlib (an implementation independent of the
gateway's), and once with `sluice sign`, as an operator would."""
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import urllib.parse

from conftest import REPO, SLUICE, free_port, standard_policy
from rawhttp import Conn

MERCHANT = "1900000001"
SECRET = b"auth-test-secret-0123456789abcdef"
ROTATED = b"auth-test-rotated-abcdef0123456789"
ORDER = json.dumps({"appid": "wxd678efh567hg6787", "mchid": MERCHANT, "description": "tea",
                    "out_trade_no": "T20260101-0001", "notify_url": "https://merchant.example/notify",
                    "amount": {"total": 100, "currency": "CNY"},
                    "payer": {"openid": "o4GgauInH_RCEdvrrNGrntXDu6D4"}}).encode()


def canonical_target(target: str) -> str:
    path, _, query = target.partition("?")
    if not query:
        return path
    pairs = []
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        enc = lambda s: urllib.parse.quote(urllib.parse.unquote(s), safe="-._~")  # noqa: E731
        pairs.append((enc(name), enc(value)))
    return path + "?" + "&".join(f"{n}={v}" for n, v in sorted(pairs))


def sign(method: str, target: str, body: bytes, *, secret: bytes = SECRET, merchant: str = MERCHANT,
         timestamp: int | None = None, nonce: str | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or os.urandom(12).hex()
    message = f"{method}\n{canonical_target(target)}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}\n"
    signature = base64.b64encode(hmac.new(secret, message.encode(), hashlib.sha256).digest()).decode()
    return f'MCH-HMAC-SHA256 mchid="{merchant}",nonce="{nonce}",timestamp="{timestamp}",signature="{signature}"'


def auth_files(port, backend_port, redis_port, *, secrets=("keys/m.hmac",), failure="deny"):
    files = standard_policy(port, backend_port, free_port())
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n",
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    auth: [merchant_hmac]\n").replace(
        "    match: {prefix: /echo}\n    cluster: demo\n",
        "    match: {prefix: /echo}\n    cluster: demo\n    auth: [merchant_hmac]\n")
    # An exact route without auth that the backend still echoes (its path starts with /echo).
    files["routes.yaml"] += """\
  - name: echo-open
    class: noncore
    match: {path: /echo-open}
    cluster: demo
"""
    files["auth.yaml"] = f"""\
redis: {{address: 127.0.0.1:{redis_port}, deadline: 200ms}}
auth: {{on_redis_failure: {failure}}}
merchants:
  - {{id: "{MERCHANT}", hmac_secrets: [{", ".join(secrets)}]}}
"""
    return files


def gateway(spawn, backend, redis, **kw):
    """A sluice with auth on the pay and echo routes, its key files written before it starts."""
    port = free_port()
    files = auth_files(port, backend.port, redis.port, **kw)
    files["keys/m.hmac"] = SECRET.decode() + "\n"
    files["keys/next.hmac"] = ROTATED.decode()
    return spawn.sluice(files, port), files


def pay(port, authorization=None, body=ORDER, target="/v3/pay/transactions/jsapi"):
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    with Conn(port) as c:
        return c.request("POST", target, headers, body)


def test_failures_are_401_with_their_code_and_reach_nothing(spawn, backend, redis):
    s, _ = gateway(spawn, backend, redis)
    target = "/v3/pay/transactions/jsapi"
    tampered = ORDER.replace(b'"total": 100', b'"total": 900')
    cases = [
        ("missing_signature", None, ORDER),
        ("malformed_authorization", 'MCH-HMAC-SHA256 mchid="1900000001"', ORDER),
        ("unknown_merchant", sign("POST", target, ORDER, merchant="1900000009"), ORDER),
        ("bad_signature", sign("POST", target, ORDER), tampered),
        ("bad_signature", sign("POST", "/v3/pay/transactions/native", ORDER), ORDER),
        ("bad_signature", sign("POST", target, ORDER, secret=b"not-the-merchant-secret-0123"), ORDER),
        ("timestamp_out_of_window", sign("POST", target, ORDER, timestamp=int(time.time()) - 400), ORDER),
    ]
    before = backend.stats()["requests"]
    for code, authorization, body in cases:
        r = pay(s.port, authorization, body)
        assert r.status == 401, (code, r)
        assert r.json()["error"] == code, (code, r)
        assert r.header("www-authenticate") == "MCH-HMAC-SHA256"
    assert backend.stats()["requests"] - before == 1  # the stats request only


def test_good_signature_passes_and_the_backend_learns_the_merchant(spawn, backend, redis):
    s, _ = gateway(spawn, backend, redis)
    assert pay(s.port, sign("POST", "/v3/pay/transactions/jsapi", ORDER)).status == 200
    # The echo route shows what the backend received: the verified merchant, not the client's claim.
    target = "/echo/orders?b=2&a=1"
    with Conn(s.port) as c:
        r = c.request("GET", target, {"Authorization": sign("GET", target, b""), "X-Sluice-Merchant": "1900000666"})
    assert r.status == 200, r
    assert r.json()["headers"]["x-sluice-merchant"] == MERCHANT
    # Routes without auth drop a client's claim too.
    with Conn(s.port) as c:
        r = c.request("GET", "/echo-open", {"X-Sluice-Merchant": "1900000666"})
    assert r.status == 200 and "x-sluice-merchant" not in r.json()["headers"], r
    deadline = time.monotonic() + 3  # the access log is flushed every 200 ms
    while not (log := [e for e in s.access_log() if e.get("route") == "pay" and e.get("status") == 200]):
        assert time.monotonic() < deadline, "no access-log line for the paid order"
        time.sleep(0.05)
    assert log[-1].get("merchant") == MERCHANT


def test_a_signed_merchant_cannot_make_the_backend_read_another(spawn, backend, redis):
    """What a correctly signed merchant could send to pose as another, or to change what its
    signed query means: the backend still reads exactly the verified merchant and the signed query."""
    s, _ = gateway(spawn, backend, redis)
    target = "/echo/orders?id=2&id=1&desc=a+b&x=1;y=2"
    headers = [("Authorization", sign("GET", target, b"")), ("Connection", "x-sluice-merchant, traceparent"),
               ("X_Sluice_Merchant", "1900000002"), ("X-Api-Key", "not-for-the-backend")]
    with Conn(s.port) as c:
        r = c.request("GET", target, headers)
    assert r.status == 200, r
    echoed = json.loads(r.body, object_pairs_hook=list)
    fields = dict(echoed)["headers"]
    merchant = [(k, v) for k, v in fields if k.replace("_", "-") == "x-sluice-merchant"]
    assert merchant == [("x-sluice-merchant", MERCHANT)], fields
    assert not [k for k, _ in fields if k == "x-api-key"], fields
    assert [k for k, _ in fields if k == "traceparent"], "the gateway's traceparent was named away"
    assert dict(echoed)["target"] == canonical_target(target) == "/echo/orders?desc=a%2Bb&id=1&id=2&x=1%3By%3D2"
    # Two Authorization fields (the first good): refused, the backend sees nothing.
    before = backend.stats()["requests"]
    with Conn(s.port) as c:
        r = c.request("GET", "/echo/x", [("Authorization", sign("GET", "/echo/x", b"")),
                                         ("Authorization", sign("GET", "/echo/x", b"", merchant="1900000002"))])
    assert r.status == 401 and r.json()["error"] == "malformed_authorization", r
    assert backend.stats()["requests"] - before == 1  # the stats request only


def test_without_an_auth_section_a_client_merchant_header_is_still_removed(spawn, backend):
    port = free_port()
    s = spawn.sluice(standard_policy(port, backend.port, free_port()), port)
    with Conn(s.port) as c:
        r = c.request("GET", "/echo/open", {"X-Sluice-Merchant": "1900000666", "X_Sluice_Merchant": "1900000666"})
    assert r.status == 200 and "1900000666" not in r.body.decode(), r


def test_sluice_sign_output_is_accepted(spawn, backend, redis, tmp_path):
    s, _ = gateway(spawn, backend, redis)
    body_file = tmp_path / "order.json"
    body_file.write_bytes(ORDER)
    out = subprocess.run([str(SLUICE), "sign", "--key-file", str(s.policy_dir / "keys" / "m.hmac"), "--merchant", MERCHANT,
                          "--method", "POST", "--path", "/v3/pay/transactions/jsapi", "--body-file", str(body_file)],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    name, _, value = out.stdout.strip().partition(": ")
    assert name == "Authorization"
    assert pay(s.port, value).status == 200
    assert pay(s.port, value).json()["error"] == "replayed_nonce"


def test_a_nonce_is_single_use_across_two_gateways(spawn, backend, redis):
    first, _ = gateway(spawn, backend, redis)
    second, _ = gateway(spawn, backend, redis)
    authorization = sign("POST", "/v3/pay/transactions/jsapi", ORDER)
    before = backend.stats()["requests"]
    got = [pay(first.port, authorization), pay(second.port, authorization), pay(first.port, authorization)]
    assert [r.status for r in got] == [200, 401, 401], got
    assert [r.json().get("error") for r in got[1:]] == ["replayed_nonce", "replayed_nonce"]
    assert backend.stats()["requests"] - before == 2  # one order, one stats request


def test_secret_rotation_through_reload(spawn, backend, redis):
    s, files = gateway(spawn, backend, redis)
    target = "/v3/pay/transactions/jsapi"
    assert pay(s.port, sign("POST", target, ORDER, secret=ROTATED)).status == 401

    def reload_with(secrets):
        text = files["auth.yaml"].replace("hmac_secrets: [keys/m.hmac]", f"hmac_secrets: [{secrets}]")
        (s.policy_dir / "auth.yaml").write_text(text)
        s.proc.signal(signal.SIGHUP)

    reload_with("keys/m.hmac, keys/next.hmac")
    deadline = time.monotonic() + 5
    while pay(s.port, sign("POST", target, ORDER, secret=ROTATED)).status != 200:
        assert time.monotonic() < deadline, "the second secret was not accepted after the reload"
        time.sleep(0.1)
    assert pay(s.port, sign("POST", target, ORDER, secret=SECRET)).status == 200, "both verify during the overlap"

    reload_with("keys/next.hmac")
    deadline = time.monotonic() + 5
    while pay(s.port, sign("POST", target, ORDER, secret=SECRET)).status != 401:
        assert time.monotonic() < deadline, "the retired secret still verifies"
        time.sleep(0.1)
    assert pay(s.port, sign("POST", target, ORDER, secret=ROTATED)).status == 200


def test_redis_down_follows_the_failure_mode(spawn, backend, redis):
    deny, _ = gateway(spawn, backend, redis, failure="deny")
    local, _ = gateway(spawn, backend, redis, failure="local")
    target = "/v3/pay/transactions/jsapi"
    assert pay(deny.port, sign("POST", target, ORDER)).status == 200
    redis.kill()
    r = pay(deny.port, sign("POST", target, ORDER))
    assert r.status == 503 and r.json()["error"] == "auth_unavailable", r
    assert r.header("retry-after") == "1"
    authorization = sign("POST", target, ORDER)
    assert pay(local.port, authorization).status == 200, "local: this gateway's nonce cache decides"
    assert pay(local.port, authorization).json()["error"] == "replayed_nonce"


def test_a_request_refused_while_redis_stalled_can_be_retried(spawn, backend, redis):
    """`on_redis_failure: deny`: Redis stalls past the deadline, the signed order is refused 503
    with Retry-After, and the stalled Redis runs the nonce's SET when it wakes. The client's
    retry of the same signed bytes (what Retry-After invites, and what HTTP libraries and load
    balancers do) was then 401 replayed_nonce for the nonce's TTL. The refused request's claim is
    now released, and a replay after the retry is still refused."""
    s, _ = gateway(spawn, backend, redis, failure="deny")
    target = "/v3/pay/transactions/jsapi"
    assert pay(s.port, sign("POST", target, ORDER)).status == 200   # connections up, scripts loaded
    authorization = sign("POST", target, ORDER)
    redis.pause()
    try:
        r = pay(s.port, authorization)
    finally:
        redis.resume()
    assert r.status == 503 and r.json()["error"] == "auth_unavailable", r
    time.sleep(int(r.header("retry-after")))
    retried = pay(s.port, authorization)
    assert retried.status == 200, retried
    replayed = pay(s.port, authorization)
    assert replayed.status == 401 and replayed.json()["error"] == "replayed_nonce", replayed


def test_a_merchant_cannot_name_another_merchant_in_the_query(spawn, backend, redis):
    """WeChat Pay's query and close APIs name the merchant in `?mchid=`: a merchant signing a query
    for another merchant's order read it through a backend that looks orders up by it. A `mchid`
    query parameter, however spelled, must be the signer's own: 403 merchant_mismatch."""
    s, _ = gateway(spawn, backend, redis)
    def query(target):
        with Conn(s.port) as c:
            return c.request("GET", target, {"Authorization": sign("GET", target, b"")})
    assert query(f"/echo/order/T1?mchid={MERCHANT}").status == 200
    for spelling in ["mchid=1900000002", "MCHID=1900000002", "mch_id=1900000002", "%6Dchid=1900000002",
                     f"mchid={MERCHANT}&mchid=1900000002", "mchid=1900000002%00",
                     # names PHP's parse_str reads as mch_id or mchid
                     "mch.id=1900000002", "mch%20id=1900000002", "%20mchid=1900000002", "mchid%5B%5D=1900000002",
                     "mch%5Bid=1900000002", "mchid%00=1900000002"]:
        r = query(f"/echo/order/T1?{spelling}")
        assert r.status == 403 and r.json()["error"] == "merchant_mismatch", (spelling, r)


def test_a_nonce_accepted_while_redis_refused_writes_is_written_there_once_it_answers(spawn, backend, redis):
    """`local`: while Redis refuses writes (a replica: -READONLY) one gateway accepts a signed
    request on its own cache. Once Redis takes writes again, that nonce is written there, so the
    same request through a second gateway is a replay (it was accepted there once: the nonce had
    only ever been in the first gateway's memory)."""
    first, _ = gateway(spawn, backend, redis, failure="local")
    second, _ = gateway(spawn, backend, redis, failure="local")
    target = "/v3/pay/transactions/jsapi"
    redis.command("REPLICAOF", "127.0.0.1", str(free_port()))  # read-only: SET answers -READONLY
    try:
        authorization = sign("POST", target, ORDER)
        assert pay(first.port, authorization).status == 200, "local: accepted on this gateway's cache"
    finally:
        redis.command("REPLICAOF", "NO", "ONE")
    time.sleep(2.5)  # the backlog is written a second after, and again a second later on failure
    r = pay(second.port, authorization)
    assert r.status == 401 and r.json()["error"] == "replayed_nonce", r


# --- WeChat Pay v3 callbacks: RSA signatures by the platform key (the SDK's published test key) ---

VECTORS = REPO / "Tests" / "SluiceAuthTests" / "Vectors"


def sign_callback(body: bytes, *, timestamp: int | None = None, nonce: str | None = None,
                  serial: str = "PUB_KEY_ID_TEST") -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or os.urandom(16).hex().upper()
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(VECTORS / "wechatpay-go-test-key.pem")],
                               input=message, capture_output=True, check=True, timeout=10).stdout
    return {"Wechatpay-Timestamp": str(timestamp), "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048", "Content-Type": "application/json"}


def test_wechatpay_callbacks_are_verified_on_the_crypto_pool(spawn, backend, redis):
    port = free_port()
    files = auth_files(port, backend.port, redis.port)
    files["routes.yaml"] += """\
  - name: notify
    class: core
    match: {methods: [POST], path: /echo-notify}
    cluster: demo
    auth: [wechatpay_callback]
"""
    files["auth.yaml"] = files["auth.yaml"].replace(
        "auth: {on_redis_failure: deny}",
        "auth: {on_redis_failure: deny, crypto_pool: rsa, "
        "wechatpay_platform_keys: [{serial: PUB_KEY_ID_TEST, public_key: keys/platform.pem}]}\n"
        "thread_pools:\n  - {name: rsa, threads: 1, queue: 64}")
    files["keys/m.hmac"] = SECRET.decode()
    files["keys/platform.pem"] = (VECTORS / "wechatpay-go-test-key.pub.pem").read_text()
    s = spawn.sluice(files, port)
    body = json.dumps({"id": "EV-2018022511223320873", "event_type": "TRANSACTION.SUCCESS"}).encode()

    def notify(headers, payload=body):
        with Conn(s.port) as c:
            return c.request("POST", "/echo-notify", headers, payload)

    good = sign_callback(body)
    before = backend.stats()["requests"]
    probe = dict(good, **{"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + good["Wechatpay-Signature"]})
    cases = [
        ("bad_signature", probe, body),
        ("unknown_serial", sign_callback(body, serial="PUB_KEY_ID_OTHER"), body),
        ("timestamp_out_of_window", sign_callback(body, timestamp=int(time.time()) - 301), body),
        ("bad_signature", good, body.replace(b"SUCCESS", b"SUCCESX")),
        ("missing_signature", {"Content-Type": "application/json"}, body),
    ]
    for code, headers, payload in cases:
        r = notify(headers, payload)
        assert r.status == 401 and r.json()["error"] == code, (code, r)
        # RFC 9457 problem details with the stable code, and never anything secret.
        assert r.header("content-type") == "application/problem+json", r
        assert {k: r.json()[k] for k in ("type", "title", "status")} == {"type": "about:blank", "title": "Unauthorized", "status": 401}, r
    assert backend.stats()["requests"] - before == 1  # the stats request only

    # A signature field sent twice (the first copy good) is malformed, as two Authorization
    # fields are: both copies went upstream, and a backend reading the last read unchecked values.
    before = backend.stats()["requests"]
    for name, other in [("Wechatpay-Nonce", "zzzzzzzzzzzzzzzz"), ("Wechatpay-Signature", "AAAA"),
                        ("Wechatpay-Serial", "OTHER"), ("Wechatpay-Timestamp", "1")]:
        fresh = sign_callback(body)
        r = notify(list(fresh.items()) + [(name, other)])
        assert r.status == 401 and r.json()["error"] == "malformed_authorization", (name, r)
    assert backend.stats()["requests"] - before == 1  # the stats request only

    # A respelled copy (what a CGI-style backend reads as the same field) is not forwarded.
    r = notify(list(good.items()) + [("Wechatpay_Nonce", "zzzzzzzzzzzzzzzz"), ("wechatpay.serial", "OTHER")])
    assert r.status == 200, r
    assert r.json()["path"] == "/echo-notify"
    forwarded = json.loads(r.body, object_pairs_hook=list)
    names = [k for k, _ in dict(forwarded)["headers"] if k.replace("_", "-").replace(".", "-").startswith("wechatpay-")]
    assert sorted(names) == sorted(k.lower() for k in good if k.startswith("Wechatpay")), names
    r = notify(good)
    assert r.status == 401 and r.json()["error"] == "replayed_nonce", r


def test_wechatpay_v3_requests_signed_by_sluice_sign(spawn, backend, redis, tmp_path):
    """A route taking both merchant HMAC and WeChat Pay v3 signatures: the Authorization scheme
    decides; `sluice sign --scheme wechatpay-v3` signs with the merchant's API private key."""
    port = free_port()
    files = auth_files(port, backend.port, redis.port)
    files["auth.yaml"] = files["auth.yaml"].replace(
        "hmac_secrets: [keys/m.hmac]}",
        "hmac_secrets: [keys/m.hmac], rsa_public_keys: [{serial: F5765756002FDD77, public_key: keys/merchant.pem}]}")
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    auth: [merchant_hmac]\n",
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    auth: [merchant_hmac, wechatpay_v3]\n")
    files["keys/m.hmac"] = SECRET.decode()
    files["keys/merchant.pem"] = (VECTORS / "wechatpay-go-test-key.pub.pem").read_text()
    s = spawn.sluice(files, port)
    body_file = tmp_path / "order.json"
    body_file.write_bytes(ORDER)
    out = subprocess.run([str(SLUICE), "sign", "--scheme", "wechatpay-v3", "--private-key", str(VECTORS / "wechatpay-go-test-key.pem"),
                          "--serial", "F5765756002FDD77", "--merchant", MERCHANT, "--method", "POST",
                          "--path", "/v3/pay/transactions/jsapi", "--body-file", str(body_file)],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    authorization = out.stdout.strip().partition(": ")[2]
    assert authorization.startswith("WECHATPAY2-SHA256-RSA2048 ")
    assert pay(s.port, authorization).status == 200
    assert pay(s.port, authorization).json()["error"] == "replayed_nonce"
    assert pay(s.port, sign("POST", "/v3/pay/transactions/jsapi", ORDER)).status == 200, "HMAC still works on the route"
    tampered = authorization.replace('serial_no="F5765756002FDD77"', 'serial_no="F5765756002FDD78"')
    assert pay(s.port, tampered).json()["error"] == "unknown_serial"


def test_wechatpay_v2_and_alipay_notify_signatures_in_the_body(spawn, backend, redis):
    """WeChat Pay v2 (MD5 over the sorted XML fields with the merchant's v2 key) and Alipay RSA2
    notifications (the spec's signed notify), each on its own route; a changed field fails."""
    port = free_port()
    files = auth_files(port, backend.port, redis.port)
    files["routes.yaml"] += """\
  - name: v2
    class: core
    match: {methods: [POST], path: /echo-v2}
    cluster: demo
    auth: [wechatpay_v2]
  - name: alipay
    class: core
    match: {methods: [POST], path: /echo-alipay}
    cluster: demo
    auth: [alipay_rsa2]
"""
    files["auth.yaml"] = files["auth.yaml"].replace(
        "auth: {on_redis_failure: deny}",
        "auth: {on_redis_failure: deny, alipay_public_keys: [{app_id: \"2015102700040153\", public_key: keys/alipay.pem}]}") + \
        '  - {id: "10000100", wechatpay_v2_key: keys/v2.key}\n'
    files["keys/m.hmac"] = SECRET.decode()
    files["keys/v2.key"] = "192006250b4c09247ec02edce69f6a2d\n"
    files["keys/alipay.pem"] = (VECTORS / "wechatpay-go-test-key.pub.pem").read_text()
    s = spawn.sluice(files, port)

    fields = {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "1add1a30ac87aa2db72f57a2375d8fec",
              "body": "JSAPI支付测试", "out_trade_no": "1415659990", "total_fee": "1", "trade_type": "JSAPI"}
    string_a = "&".join(f"{k}={v}" for k, v in sorted(fields.items())) + "&key=192006250b4c09247ec02edce69f6a2d"
    sign = hashlib.md5(string_a.encode()).hexdigest().upper()

    def xml(values):
        return ("<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in values.items()) + "</xml>").encode()

    with Conn(s.port) as c:
        r = c.request("POST", "/echo-v2", {"Content-Type": "text/xml"}, xml(dict(fields, sign=sign)))
        assert r.status == 200, r
        assert r.json()["headers"]["x-sluice-merchant"] == "10000100"
        r = c.request("POST", "/echo-v2", {"Content-Type": "text/xml"}, xml(dict(fields, total_fee="100", sign=sign)))
        assert r.status == 401 and r.json()["error"] == "bad_signature", r
        # Refusals say where this scheme's signature is (the body), not an Authorization header.
        r = c.request("POST", "/echo-v2", {"Content-Type": "text/xml"}, xml(fields))
        assert r.status == 401 and r.json()["error"] == "missing_signature" and "sign field" in r.json()["detail"], r
        r = c.request("POST", "/echo-v2", {"Content-Type": "text/xml"}, xml(dict(fields, sign=sign + "0")))
        assert r.status == 401 and r.json()["error"] == "malformed_authorization" and "body's sign" in r.json()["detail"], r
        r = c.request("POST", "/echo-v2", {"Content-Type": "text/plain"}, b"")
        assert r.status == 401 and "a sign field in the body" in r.json()["detail"] and "Authorization" not in r.json()["detail"], r

    from authvectors import ALIPAY_NOTIFY
    with Conn(s.port) as c:
        form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        r = c.request("POST", "/echo-alipay", form, ALIPAY_NOTIFY.encode())
        assert r.status == 200, r
        r = c.request("POST", "/echo-alipay", form, ALIPAY_NOTIFY.replace("total_amount=2.00", "total_amount=200.00").encode())
        assert r.status == 401 and r.json()["error"] == "bad_signature", r


def test_api_key_identifies_an_internal_caller_and_is_not_forwarded(spawn, backend, redis):
    port = free_port()
    files = auth_files(port, backend.port, redis.port)
    files["routes.yaml"] += """\
  - name: internal
    class: noncore
    match: {path: /echo-internal}
    cluster: demo
    auth: [api_key]
"""
    key = "internal-caller-key-" + os.urandom(8).hex()
    files["auth.yaml"] += f'  - {{id: "internal-1", api_key_sha256: [{hashlib.sha256(key.encode()).hexdigest()}]}}\n'
    files["keys/m.hmac"] = SECRET.decode()
    s = spawn.sluice(files, port)
    with Conn(s.port) as c:
        r = c.request("GET", "/echo-internal", {"X-Api-Key": key})
        assert r.status == 200, r
        assert r.json()["headers"]["x-sluice-merchant"] == "internal-1"
        assert "x-api-key" not in r.json()["headers"], "the key never reaches the backend"
        r = c.request("GET", "/echo-internal", {"X-Api-Key": key + "x"})
        assert r.status == 401 and r.json()["error"] == "unknown_merchant", r


def test_a_client_address_limit_before_auth_cuts_forged_floods(spawn, backend, redis):
    """A rule with `before_auth: true` runs at the chain's start: once a client has spent it, its
    forged requests are refused (429) before any signature is checked."""
    port = free_port()
    files = auth_files(port, backend.port, redis.port)
    files["auth.yaml"] += """\
limits:
  - {name: per-client, algorithm: token_bucket, rate: 1/min, burst: 2, key: [client_ip], on_redis_failure: deny, before_auth: true}
"""
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    auth: [merchant_hmac]\n    timeouts: {per_try: 5s, total: 10s}\n    max_body: 1MiB\n  - name: echo",
        "    auth: [merchant_hmac]\n    limits: [per-client]\n    timeouts: {per_try: 5s, total: 10s}\n    max_body: 1MiB\n  - name: echo", 1)
    assert "limits: [per-client]" in files["routes.yaml"]
    files["keys/m.hmac"] = SECRET.decode()
    s = spawn.sluice(files, port)
    forged = sign("POST", "/v3/pay/transactions/jsapi", ORDER, secret=b"not-the-merchant-secret-0123")
    got = [pay(s.port, forged) for _ in range(3)]
    assert [(r.status, r.json()["error"]) for r in got] == [(401, "bad_signature"), (401, "bad_signature"), (429, "rate_limited")], got


def test_a_request_with_no_credentials_is_refused_before_its_body(spawn, backend, redis):
    """A POST with no Authorization on a route signed in headers: 401 from its head. The gateway
    answered `100 Continue` and read (and held buffer for) the body of every such request first,
    a cheap way for a client with no credentials to take the body buffer from paying ones."""
    import socket
    s, _ = gateway(spawn, backend, redis)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"POST /v3/pay/transactions/jsapi HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 65536\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"missing_signature" in answer and b"100 Continue" not in answer, answer[:400]
    # Two Authorization fields are refused from the head as well; a signed order still works.
    with Conn(s.port) as c:
        r = c.request("POST", "/v3/pay/transactions/jsapi", [("Content-Type", "application/json"),
                      ("Authorization", sign("POST", "/v3/pay/transactions/jsapi", ORDER)), ("Authorization", "x")], ORDER)
    assert r.status == 401 and r.json()["error"] == "malformed_authorization", r
    assert pay(s.port, sign("POST", "/v3/pay/transactions/jsapi", ORDER)).status == 200
