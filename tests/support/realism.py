"""The realism layer: an HTTP proxy in front of the AWS emulator that answers
the way AWS does where the emulator does not: throttling, IAM eventual
consistency, asynchronous states (Pending functions, updates in progress,
provisioned concurrency, event source mapping transitions, queue names
blocked after deletion), faults, latency and lost answers.

Usage: realism.py TARGET_URL [flags]   (flags: realism.py --help)
Prints the port it listens on (127.0.0.1) on its first stdout line, then
serves until killed. Every behaviour is off unless its flag (or --all) is
given, except provisioned concurrency, which the layer always serves (the
emulator has none); `GET /__realism/stats` answers JSON counters.

The service comes from the SigV4 credential scope of the Authorization header;
the operation from the REST method and path (Lambda, API Gateway v2, S3), the
form body's `Action=` (IAM, STS) or the `X-Amz-Target` header (JSON protocol).
Random decisions are drawn per (operation, nth occurrence of it) from --seed,
so a run replays identically whatever the concurrency.
"""
import argparse
import hashlib
import http.client
import http.server
import io
import json
import math
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "expect"}
# The layer's own answer line already carries these.
OWN = {"server", "date"}

# Defaults are AWS's. Durations are seconds (multiplied by --scale).
DEFAULTS = {
    "iam_delay": 8.0,  # IAM propagation: a new role is assumable after several seconds
    "pending": 2.0,  # a new zip function leaves Pending after ~1-5 s
    "in_progress": 2.0,  # an update leaves InProgress after ~1-5 s
    "pc_ready": 60.0,  # provisioned concurrency allocates in a minute or two
    "esm_transition": 10.0,  # Creating/Updating/Deleting last seconds to a minute
    "queue_deleted_recently": 60.0,  # SQS: "You must wait 60 seconds"
    "faults": 0.05,
    "latency_ms": 25.0,
}

# Requests per second and burst (token bucket capacity). Keys are a service
# (its credential-scope name) or `service.Operation`, which wins.
# Lambda: "Control plane API requests (excludes invocation, GetFunction, and
# GetPolicy requests) 15 per second", GetFunction 100/s, GetPolicy 15/s.
# IAM publishes no number ("You can't increase the AWS service rate quotas"):
# 10/s, the lowest rate commonly observed for IAM writes, so a deploy that
# survives it survives IAM. API Gateway management: 10/s, burst 40. CloudWatch
# Logs' log group writes (FAMILY below): 5/s, CreateLogGroup's quota.
RATES = {
    "lambda": (15, 15),
    "lambda.GetFunction": (100, 100),
    "lambda.GetPolicy": (15, 15),
    "lambda.Invoke": (10000, 10000),
    "iam": (10, 10),
    "apigateway": (10, 40),
    "sts": (600, 600),
    "s3": (3500, 3500),
    "logs.write": (5, 5),
}
GENEROUS = (50, 50)
# Operations that share one quota, by the key RATES knows them by.
FAMILY = {f"logs.{op}": "logs.write" for op in (
    "CreateLogGroup", "DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy",
    "TagResource", "UntagResource", "TagLogGroup", "UntagLogGroup")}


def rate_key(op_key, service, rates):
    """The RATES key an operation is limited under: its family's, its own, else its service's."""
    key = FAMILY.get(op_key, op_key)
    return key if key in rates else service

SERVICE_OF_TARGET = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodb",
    "AmazonSQS": "sqs",
    "Logs_20140328": "logs",
    "AWSStepFunctions": "states",
    "AWSEvents": "events",
}

QUERY_NS = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
}

# The `__type` namespace of each JSON-protocol service's errors.
JSON_NS = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810#",
    "sqs": "com.amazonaws.sqs#",
    "logs": "",
    "states": "",
    "events": "",
}

XRAY_DENIED = "The provided execution role does not have permissions to call PutTraceSegments on XRAY"

# Lambda error shapes whose message member is spelt `Message`.
LAMBDA_CAPITAL_MESSAGE = {"ResourceInUseException", "ServiceException"}


def scope_service(auth):
    m = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request", auth or "")
    return m.group(1) if m else "unknown"


def fn_name(ref):
    """A function's name from a name, a partial or full ARN (qualifier dropped)."""
    ref = urllib.parse.unquote(ref or "")
    parts = ref.split(":")
    if "function" in parts:
        i = parts.index("function")
        return parts[i + 1] if i + 1 < len(parts) else ref
    return parts[0]


def role_name(arn):
    return (arn or "").rsplit("/", 1)[-1]


def now_stamp():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


class Req:
    def __init__(self, method, raw_path, headers, body):
        self.method = method
        self.raw_path = raw_path
        self.headers = headers
        self.body = body
        split = urllib.parse.urlsplit(raw_path)
        self.path = split.path
        self.query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        self.segs = [urllib.parse.unquote(s) for s in self.path.strip("/").split("/")] if self.path.strip("/") else []
        self.service = scope_service(headers.get("Authorization"))
        self.target = headers.get("X-Amz-Target")
        self.protocol = "rest"
        self.params = {}
        self.op = None
        if self.target:
            self.protocol = "json"
            prefix, _, self.op = self.target.partition(".")
            self.service = SERVICE_OF_TARGET.get(prefix, self.service)
            try:
                self.params = json.loads(body or b"{}")
            except ValueError:
                self.params = {}
        elif self.service in ("iam", "sts", "sqs") or b"Action=" in body[:200]:
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))) if body else {}
            form.update({k: v for k, v in self.query.items() if k not in form})
            if "Action" in form:
                self.protocol = "query"
                self.op = form["Action"]
                self.params = form
        if self.op is None:
            self.op = self.rest_op()
        self.key = f"{self.service}.{self.op}"

    def json(self):
        if self.protocol == "rest" and not self.params and self.body:
            try:
                self.params = json.loads(self.body)
            except ValueError:
                self.params = {}
        return self.params if isinstance(self.params, dict) else {}

    @property
    def mutating(self):
        if self.protocol == "rest":
            return self.method in ("POST", "PUT", "DELETE", "PATCH")
        return not self.op.startswith(("Get", "List", "Describe", "Head"))

    def rest_op(self):
        if self.service == "lambda":
            return lambda_op(self.method, self.segs, self.query)
        if self.service == "apigateway":
            return apigw_op(self.method, self.segs)
        if self.service == "s3":
            return s3_op(self.method, self.segs, self.query)
        return f"{self.method} /{'/'.join(self.segs[:1])}"


LAMBDA_SUB = {
    ("configuration", "GET"): "GetFunctionConfiguration",
    ("configuration", "PUT"): "UpdateFunctionConfiguration",
    ("code", "PUT"): "UpdateFunctionCode",
    ("versions", "POST"): "PublishVersion",
    ("versions", "GET"): "ListVersionsByFunction",
    ("aliases", "POST"): "CreateAlias",
    ("aliases", "GET"): "ListAliases",
    ("policy", "POST"): "AddPermission",
    ("policy", "GET"): "GetPolicy",
    ("invocations", "POST"): "Invoke",
    ("invoke-async", "POST"): "InvokeAsync",
    ("concurrency", "PUT"): "PutFunctionConcurrency",
    ("concurrency", "GET"): "GetFunctionConcurrency",
    ("concurrency", "DELETE"): "DeleteFunctionConcurrency",
    ("provisioned-concurrency", "PUT"): "PutProvisionedConcurrencyConfig",
    ("provisioned-concurrency", "GET"): "GetProvisionedConcurrencyConfig",
    ("provisioned-concurrency", "DELETE"): "DeleteProvisionedConcurrencyConfig",
    ("event-invoke-config", "PUT"): "PutFunctionEventInvokeConfig",
    ("event-invoke-config", "POST"): "UpdateFunctionEventInvokeConfig",
    ("event-invoke-config", "GET"): "GetFunctionEventInvokeConfig",
    ("event-invoke-config", "DELETE"): "DeleteFunctionEventInvokeConfig",
    ("url", "POST"): "CreateFunctionUrlConfig",
    ("url", "PUT"): "UpdateFunctionUrlConfig",
    ("url", "GET"): "GetFunctionUrlConfig",
    ("url", "DELETE"): "DeleteFunctionUrlConfig",
}
LAMBDA_ITEM = {
    ("aliases", "GET"): "GetAlias",
    ("aliases", "PUT"): "UpdateAlias",
    ("aliases", "DELETE"): "DeleteAlias",
    ("policy", "DELETE"): "RemovePermission",
}


def lambda_op(method, segs, query):
    rest = segs[1:]
    if not rest:
        return f"{method} /"
    head = rest[0]
    if head == "functions":
        if len(rest) == 1:
            return {"POST": "CreateFunction", "GET": "ListFunctions"}.get(method, f"{method} functions")
        if len(rest) == 2:
            return {"GET": "GetFunction", "DELETE": "DeleteFunction"}.get(method, f"{method} function")
        sub = rest[2]
        if sub == "provisioned-concurrency" and method == "GET" and query.get("List"):
            return "ListProvisionedConcurrencyConfigs"
        if len(rest) >= 4:
            return LAMBDA_ITEM.get((sub, method), f"{method} function/{sub}/*")
        return LAMBDA_SUB.get((sub, method), f"{method} function/{sub}")
    if head == "event-source-mappings":
        if len(rest) == 1:
            return {"POST": "CreateEventSourceMapping", "GET": "ListEventSourceMappings"}.get(method, method)
        return {
            "GET": "GetEventSourceMapping",
            "PUT": "UpdateEventSourceMapping",
            "DELETE": "DeleteEventSourceMapping",
        }.get(method, method)
    if head == "tags":
        return {"GET": "ListTags", "POST": "TagResource", "DELETE": "UntagResource"}.get(method, method)
    if head == "account-settings":
        return "GetAccountSettings"
    return f"{method} {head}"


def singular(word):
    word = word[0].upper() + word[1:]
    return word[:-1] if word.endswith("s") else word


def apigw_op(method, segs):
    rest = segs[1:] if segs and segs[0] == "v2" else segs
    if not rest:
        return f"{method} /"
    if rest[0] == "tags":
        return {"GET": "GetTags", "POST": "TagResource", "DELETE": "UntagResource"}.get(method, method)
    collection = rest[-1] if len(rest) % 2 == 1 else rest[-2]
    camel = "".join(p[0].upper() + p[1:] for p in collection.split("-") if p)
    if len(rest) % 2 == 1:
        return {"GET": "Get" + camel, "POST": "Create" + singular(camel), "PUT": "Reimport" + singular(camel)}.get(
            method, f"{method} {collection}"
        )
    return {"GET": "Get", "PATCH": "Update", "DELETE": "Delete", "PUT": "Reimport"}.get(method, method) + singular(camel)


def s3_op(method, segs, query):
    sub = next((k for k in query if k not in ("x-id", "list-type", "prefix", "delimiter", "max-keys", "versionId",
                                              "continuation-token", "encoding-type", "uploadId", "partNumber")), None)
    if "x-id" in query:
        return query["x-id"]
    verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}.get(method, method)
    if not segs:
        return "ListBuckets"
    if len(segs) == 1:
        if sub:
            return verb + "Bucket" + "".join(p[0].upper() + p[1:] for p in sub.split("-") if p)
        return {"GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
            method, verb + "Bucket"
        )
    if sub:
        return verb + "Object" + "".join(p[0].upper() + p[1:] for p in sub.split("-") if p)
    return verb + "Object"


class Answer:
    def __init__(self, status, body=b"", headers=None, outcome="forwarded"):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or []
        self.outcome = outcome

    @property
    def ok(self):  # the emulator answers some reads 201
        return 200 <= self.status < 300

    def with_header(self, name, value):
        self.headers.append((name, value))
        return self


def error(req, status, code, message, outcome, extra=None, sender=True):
    """An error answer in the real protocol shape of the request's service."""
    rid = str(uuid.uuid4())
    svc = req.service
    headers = [("x-amzn-RequestId", rid)]
    if svc == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{rid[:16].upper()}</RequestId><HostId>{rid}</HostId></Error>"
        ).encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", rid[:16].upper())]
        return Answer(status, body, headers, outcome)
    if req.protocol == "query":
        ns = QUERY_NS.get(svc, "")
        xmlns = f' xmlns="{ns}"' if ns else ""
        kind = "Sender" if sender else "Receiver"
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
        return Answer(status, body, headers, outcome)
    if req.protocol == "json":
        doc = {"__type": JSON_NS.get(svc, "") + code, "message": message}
        if svc == "sqs":
            headers.append(("x-amzn-query-error", f"{QUERY_CODES.get(code, code)};{'Sender' if sender else 'Receiver'}"))
        headers.append(("Content-Type", "application/x-amz-json-1.0" if svc in ("dynamodb", "sqs", "states")
                        else "application/x-amz-json-1.1"))
    elif svc == "lambda":
        key = "Message" if code in LAMBDA_CAPITAL_MESSAGE else "message"
        doc = {"Type": "User" if sender else "Service", key: message}
        headers.append(("Content-Type", "application/json"))
    else:  # API Gateway v2 and any other REST JSON service
        doc = {"message": message}
        headers.append(("Content-Type", "application/json"))
    doc.update(extra or {})
    headers.append(("x-amzn-ErrorType", code))
    return Answer(status, json.dumps(doc).encode(), headers, outcome)


QUERY_CODES = {
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "RequestThrottled": "RequestThrottled",
    "InternalError": "InternalError",
    "ServiceUnavailable": "ServiceUnavailable",
}


def throttled(req, retry_after):
    svc = req.service
    if svc == "lambda":
        return error(req, 429, "TooManyRequestsException", "Rate exceeded", "throttled",
                     {"Reason": "CallerRateLimitExceeded", "retryAfterSeconds": str(retry_after)}) \
            .with_header("Retry-After", str(retry_after))
    if svc == "apigateway":
        return error(req, 429, "TooManyRequestsException", "Too Many Requests", "throttled",
                     {"limitType": "RateLimit"})
    if svc in ("iam", "sts"):
        return error(req, 400, "Throttling", "Rate exceeded", "throttled")
    if svc == "s3":
        return error(req, 503, "SlowDown", "Please reduce your request rate.", "throttled")
    if svc == "sqs":
        return error(req, 400, "RequestThrottled", "Rate exceeded", "throttled")
    if svc == "dynamodb":
        return error(req, 400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.", "throttled")
    return error(req, 400, "ThrottlingException", "Rate exceeded", "throttled")


def denied(req):
    """What AWS answers a caller whose policy does not allow the operation."""
    action = f"{req.service}:{req.op}"  # the endpoints we serve are named as IAM's prefixes
    message = (f"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: {action} "
               "because no identity-based policy allows the action")
    if req.service in ("dynamodb", "logs", "states", "events"):
        return error(req, 400, "AccessDeniedException", message, "denied")
    if req.service in ("lambda", "apigateway"):
        return error(req, 403, "AccessDeniedException", message, "denied")
    return error(req, 403, "AccessDenied", message, "denied")  # IAM, STS, S3, SQS


def server_fault(req, status, outcome):
    svc = req.service
    if status == 503:
        if svc == "s3":
            return error(req, 503, "ServiceUnavailable", "Service is unable to handle request.", outcome, sender=False)
        return error(req, 503, "ServiceUnavailable", "Service Unavailable", outcome, sender=False)
    code = {
        "lambda": "ServiceException",
        "iam": "ServiceFailure",
        "dynamodb": "InternalServerError",
        "logs": "ServiceUnavailableException",
        "events": "InternalException",
        "s3": "InternalError",
        "sqs": "InternalError",
    }.get(svc, "InternalFailure")
    message = "We encountered an internal error. Please try again." if svc == "s3" else "Internal service error."
    return error(req, 500, code, message, outcome, sender=False)


class Bucket:
    def __init__(self, rate, burst):
        self.rate = float(rate)
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.at = time.monotonic()

    def take(self, now):
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.rate))


class Layer:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.target = urllib.parse.urlparse(args.target)
        self.seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
        self.occurrences = {}
        self.rates = dict(RATES)
        for spec in args.rate:  # a new rate's burst is one second of it, unless --burst says
            key, _, value = spec.partition("=")
            self.rates[key] = (float(value), float(value))
        for spec in args.burst:
            key, _, value = spec.partition("=")
            self.rates[key] = (self.rates.get(key, GENEROUS)[0], float(value))
        self.buckets = {}
        self.lose = re.compile(args.lose) if args.lose else None
        self.swallow = re.compile(args.swallow) if args.swallow else None
        self.deny = re.compile(args.deny) if args.deny else None
        self.lost_seen = set()
        self.roles = {}  # role name -> (monotonic time, policy written?)
        self.function_roles = {}  # function name -> role name
        self.created = {}  # function name -> monotonic time of creation through the layer
        self.updating = {}  # function name -> (until, arn)
        self.pc = {}  # (function, qualifier) -> config
        self.esm = {}  # uuid -> {"until", "state", "body"}
        self.deleted_queues = {}  # queue name -> monotonic time
        self.stats = {"requests": 0, "by_outcome": {}, "by_service": {}, "operations": {}, "by_operation": {},
                      "throttled": {}}
        self.log = open(args.log, "a") if args.log else None

    # -- decisions -------------------------------------------------------
    def nth(self, key):
        with self.lock:
            n = self.occurrences.get(key, 0)
            self.occurrences[key] = n + 1
            return n

    def draw(self, tag, key, n):
        h = hashlib.blake2b(f"{self.seed}|{tag}|{key}|{n}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0**64

    def dur(self, seconds):
        return (seconds or 0) * self.args.scale

    def recent(self, at, seconds):
        return at is not None and time.monotonic() - at < self.dur(seconds)

    def throttle(self, req):
        key = rate_key(req.key, req.service, self.rates)
        rate, burst = self.rates.get(key, GENEROUS)
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = Bucket(rate, burst)
            return bucket.take(time.monotonic())

    # -- upstream --------------------------------------------------------
    def upstream(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=120)
        try:
            # One Content-Length, whatever the client's case: LocalStack (Twisted) answers
            # a request carrying two (`content-length` and `Content-Length`) with a bare 400.
            headers = {k: v for k, v in headers.items() if k.lower() not in HOP | {"content-length"}}
            headers["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            # A HEAD answer keeps the emulator's Content-Length (the size of what GET would send).
            keep = method == "HEAD"
            return Answer(resp.status, payload, [(k, v) for k, v in resp.getheaders()
                                                 if k.lower() not in HOP | OWN and (keep or k.lower() != "content-length")])
        finally:
            conn.close()

    def ask(self, req, method, path):
        """A read of the emulator on the layer's own behalf, signed like the request."""
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("authorization", "x-amz-date", "host")}
        return self.upstream(method, path, headers, b"")

    # -- accounting ------------------------------------------------------
    def record(self, req, answer, started):
        with self.lock:
            s = self.stats
            s["requests"] += 1
            s["by_outcome"][answer.outcome] = s["by_outcome"].get(answer.outcome, 0) + 1
            per = s["by_service"].setdefault(req.service, {})
            per[answer.outcome] = per.get(answer.outcome, 0) + 1
            s["operations"][req.key] = s["operations"].get(req.key, 0) + 1
            per = s["by_operation"].setdefault(req.key, {})
            per[answer.outcome] = per.get(answer.outcome, 0) + 1
            if answer.outcome == "throttled":
                s["throttled"][req.service] = s["throttled"].get(req.service, 0) + 1
        if self.log:
            line = {
                "t": round(time.time(), 3),
                "service": req.service,
                "operation": req.op,
                "method": req.method,
                "path": req.raw_path,
                "outcome": answer.outcome,
                "status": answer.status,
                "ms": round((time.monotonic() - started) * 1000, 1),
            }
            if self.args.log_header:
                line["header"] = req.headers.get(self.args.log_header, "")
            with self.log_lock:
                self.log.write(json.dumps(line) + "\n")
                self.log.flush()

    def stats_answer(self):
        with self.lock:
            doc = json.loads(json.dumps(self.stats))
        doc["seed"] = self.seed
        return Answer(200, doc, [("Content-Type", "application/json")], "stats")

    # -- the request path ------------------------------------------------
    def handle(self, req):
        n = self.nth(req.key)
        a = self.args
        if a.latency_ms or a.delay_ms:
            ms = a.latency_ms or 0
            if ms and self.draw("tail", req.key, n) < 0.015:
                ms *= 10
            time.sleep(self.dur((ms + (a.delay_ms or 0)) / 1000))
        if a.throttle:
            wait = self.throttle(req)
            if wait:
                return throttled(req, wait)
        fault = None
        if a.faults and self.draw("fault", req.key, n) < a.faults:
            kind = self.draw("kind", req.key, n)
            fault = ("before-500" if kind < 0.3 else "before-503" if kind < 0.5 else "before-reset" if kind < 0.65
                     else "after-500" if kind < 0.85 else "after-reset")
            if fault == "before-reset":
                return Answer(0, outcome="reset-before")
            if fault.startswith("before"):
                return server_fault(req, int(fault[-3:]), "fault-before")
        if self.deny and self.deny.search(req.key):
            return denied(req)
        if self.swallow and req.method == "PUT" and self.swallow.search(req.raw_path):
            return Answer(200, b"", [("x-amzn-RequestId", str(uuid.uuid4()))], "swallowed")
        answer = self.before(req)
        if answer is None:
            answer = self.upstream(req.method, req.raw_path, req.headers, req.body)
            self.after(req, answer)
            if req.mutating and (a.lose_first_write or self.lose) and answer.status < 500:
                if self.lose is None or self.lose.search(req.path):
                    key = (req.method, req.raw_path, hashlib.sha256(req.body).hexdigest())
                    with self.lock:
                        first = key not in self.lost_seen
                        self.lost_seen.add(key)
                    if first:
                        return server_fault(req, 500, "lost")
        if fault == "after-500":
            return server_fault(req, 500, "fault-after")
        if fault == "after-reset":
            return Answer(0, outcome="reset-after")
        return answer

    def before(self, req):
        """An answer the layer gives without the emulator, or None to forward."""
        svc, op = req.service, req.op
        a = self.args
        if svc == "lambda":
            if op in ("PutProvisionedConcurrencyConfig", "GetProvisionedConcurrencyConfig",
                      "DeleteProvisionedConcurrencyConfig", "ListProvisionedConcurrencyConfigs"):
                return self.provisioned(req)
            name = fn_name(req.segs[2]) if len(req.segs) > 2 and req.segs[1] == "functions" else None
            if a.iam_delay and op in ("CreateFunction", "UpdateFunctionConfiguration"):
                refused = self.iam_refusal(req)
                if refused:
                    return refused
            if op in ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion") and name:
                with self.lock:
                    created = self.created.get(name)
                    until, arn = self.updating.get(name, (0, None))
                if a.pending and self.recent(created, a.pending):
                    return error(req, 409, "ResourceConflictException",
                                 "The operation cannot be performed at this time. The function is currently in "
                                 "the following state: Pending", "pending-conflict")
                if a.in_progress and time.monotonic() < until:
                    return error(req, 409, "ResourceConflictException",
                                 "The operation cannot be performed at this time. An update is in progress for "
                                 f"resource: {arn}", "update-conflict")
            if a.iam_delay and op == "CreateEventSourceMapping":
                refused = self.esm_refusal(req)
                if refused:
                    return refused
            if a.esm_transition and op in ("UpdateEventSourceMapping", "DeleteEventSourceMapping",
                                           "GetEventSourceMapping"):
                uid = req.segs[-1]
                with self.lock:
                    entry = self.esm.get(uid)
                busy = entry is not None and time.monotonic() < entry["until"]
                if busy and op != "GetEventSourceMapping":
                    return error(req, 400, "ResourceInUseException",
                                 f"Cannot {'update' if op.startswith('Update') else 'delete'} the event source "
                                 f"mapping because it is in use. The mapping is {entry['state']}.", "esm-in-use")
                if busy and entry["state"] == "Deleting":
                    return Answer(200, entry["body"], [("Content-Type", "application/json"),
                                                       ("x-amzn-RequestId", str(uuid.uuid4()))], "esm-deleting")
        elif svc == "states" and a.iam_delay and op in ("CreateStateMachine", "UpdateStateMachine"):
            role = role_name(req.json().get("roleArn"))
            with self.lock:
                written = self.roles.get(role)
            if role and written and self.recent(written[0], a.iam_delay):
                return error(req, 400, "AccessDeniedException",
                             "Neither the global service principal states.amazonaws.com, nor the regional one is "
                             "authorized to assume the provided role.", "iam-delay")
        elif svc == "sqs" and a.queue_deleted_recently and op == "CreateQueue":
            name = req.params.get("QueueName")
            with self.lock:
                deleted = self.deleted_queues.get(name)
            if self.recent(deleted, a.queue_deleted_recently):
                wait = round(a.queue_deleted_recently)
                return error(req, 400, "QueueDeletedRecently",
                             f"You must wait {wait} seconds after deleting a queue before you can create another "
                             "with the same name.", "queue-deleted-recently")
        return None

    def iam_refusal(self, req):
        body = req.json()
        tracing = (body.get("TracingConfig") or {}).get("Mode") == "Active"
        role = role_name(body.get("Role"))
        if not role and tracing and req.op == "UpdateFunctionConfiguration":
            # Turning tracing on checks the function's current role's permissions.
            with self.lock:
                any_recent = any(self.recent(t, self.args.iam_delay) for t, _ in self.roles.values())
            role = self.function_role(req, fn_name(req.segs[2])) if any_recent else None
            with self.lock:
                written = self.roles.get(role)
            if written and written[1] and self.recent(written[0], self.args.iam_delay):
                return error(req, 400, "InvalidParameterValueException", XRAY_DENIED, "iam-delay")
            return None
        if not role:
            return None
        with self.lock:
            written = self.roles.get(role)
        if not written or not self.recent(written[0], self.args.iam_delay):
            return None
        message = "The role defined for the function cannot be assumed by Lambda."
        if tracing and written[1]:
            message = XRAY_DENIED
        return error(req, 400, "InvalidParameterValueException", message, "iam-delay")

    def function_role(self, req, name):
        with self.lock:
            role = self.function_roles.get(name)
        if role is None:
            got = self.ask(req, "GET", f"/2015-03-31/functions/{urllib.parse.quote(name)}/configuration")
            if got.ok:
                role = role_name(json.loads(got.body).get("Role"))
                with self.lock:
                    self.function_roles[name] = role
        return role

    def esm_refusal(self, req):
        with self.lock:
            any_recent = any(self.recent(t, self.args.iam_delay) for t, _ in self.roles.values())
        if not any_recent:
            return None
        body = req.json()
        role = self.function_role(req, fn_name(body.get("FunctionName")))
        with self.lock:
            written = self.roles.get(role)
        if not written or not self.recent(written[0], self.args.iam_delay):
            return None
        source = body.get("EventSourceArn") or ""
        if ":sqs:" in source:
            message = "The provided execution role does not have permissions to call ReceiveMessage on SQS"
        else:
            message = (f"Cannot access stream {source}. Please ensure the role can perform the GetRecords, "
                       "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.")
        return error(req, 400, "InvalidParameterValueException", message, "iam-delay")

    def after(self, req, answer):
        """Records what a forwarded request did, and rewrites its answer."""
        svc, op, a = req.service, req.op, self.args
        ok = 200 <= answer.status < 300
        if not ok:
            return
        if svc == "iam" and op in ("CreateRole", "PutRolePolicy", "AttachRolePolicy", "UpdateAssumeRolePolicy"):
            with self.lock:
                self.roles[req.params.get("RoleName")] = (time.monotonic(), op in ("PutRolePolicy",
                                                                                   "AttachRolePolicy"))
        elif svc == "sqs" and op == "DeleteQueue":
            url = req.params.get("QueueUrl") or ""
            with self.lock:
                self.deleted_queues[url.rstrip("/").rsplit("/", 1)[-1]] = time.monotonic()
        elif svc == "lambda":
            self.after_lambda(req, answer)

    def after_lambda(self, req, answer):
        op, a = req.op, self.args
        name = fn_name(req.segs[2]) if len(req.segs) > 2 and req.segs[1] == "functions" else None
        now = time.monotonic()
        if op == "CreateFunction":
            doc = json.loads(answer.body)
            name = doc.get("FunctionName")
            with self.lock:
                self.function_roles[name] = role_name(doc.get("Role"))
                self.created[name] = now
                self.updating.pop(name, None)
            if a.pending:
                doc.update(State="Pending", StateReason="The function is being created.",
                           StateReasonCode="Creating")
                answer.body = json.dumps(doc).encode()
        elif op in ("UpdateFunctionCode", "UpdateFunctionConfiguration"):
            doc = json.loads(answer.body)
            with self.lock:
                if doc.get("Role"):
                    self.function_roles[name] = role_name(doc.get("Role"))
                if a.in_progress:
                    self.updating[name] = (now + self.dur(a.in_progress), doc.get("FunctionArn"))
            if a.in_progress:
                doc.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being updated.",
                           LastUpdateStatusReasonCode="InProgress")
                answer.body = json.dumps(doc).encode()
        elif op in ("GetFunction", "GetFunctionConfiguration") and req.query.get("Qualifier", "$LATEST") == "$LATEST":
            with self.lock:
                created = self.created.get(name)
                until, _ = self.updating.get(name, (0, None))
            pending = a.pending and self.recent(created, a.pending)
            updating = a.in_progress and now < until
            if pending or updating:
                doc = json.loads(answer.body)
                conf = doc.get("Configuration", doc) if op == "GetFunction" else doc
                if pending:
                    conf.update(State="Pending", StateReason="The function is being created.",
                                StateReasonCode="Creating")
                if updating:
                    conf.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being updated.",
                                LastUpdateStatusReasonCode="InProgress")
                answer.body = json.dumps(doc).encode()
        elif op == "DeleteFunction" and "Qualifier" not in req.query:
            with self.lock:
                for key in [k for k in self.pc if k[0] == name]:
                    del self.pc[key]
                self.created.pop(name, None)
                self.updating.pop(name, None)
                self.function_roles.pop(name, None)
        elif op == "DeleteAlias":
            with self.lock:
                self.pc.pop((name, req.segs[-1]), None)
        elif a.esm_transition and op in ("CreateEventSourceMapping", "UpdateEventSourceMapping",
                                         "DeleteEventSourceMapping"):
            doc = json.loads(answer.body)
            doc["State"] = {"C": "Creating", "U": "Updating", "D": "Deleting"}[op[0]]
            answer.body = json.dumps(doc).encode()
            with self.lock:
                self.esm[doc.get("UUID")] = {"until": now + self.dur(a.esm_transition), "state": doc["State"],
                                             "body": answer.body}
        elif a.esm_transition and op == "GetEventSourceMapping":
            doc = json.loads(answer.body)
            answer.body = json.dumps(self.esm_view(doc, now)).encode()
        elif a.esm_transition and op == "ListEventSourceMappings":
            doc = json.loads(answer.body)
            items = [self.esm_view(m, now) for m in doc.get("EventSourceMappings", [])]
            present = {m.get("UUID") for m in items}
            with self.lock:
                deleting = [(u, e) for u, e in self.esm.items()
                            if e["state"] == "Deleting" and now < e["until"] and u not in present]
            want = req.query.get("FunctionName")
            source = req.query.get("EventSourceArn")
            for _, entry in deleting:
                m = json.loads(entry["body"])
                if want and fn_name(want) != fn_name(m.get("FunctionArn")):
                    continue
                if source and source != m.get("EventSourceArn"):
                    continue
                items.append(m)
            doc["EventSourceMappings"] = items
            answer.body = json.dumps(doc).encode()

    def esm_view(self, doc, now):
        with self.lock:
            entry = self.esm.get(doc.get("UUID"))
        if entry and now < entry["until"]:
            doc["State"] = entry["state"]
        return doc

    # -- provisioned concurrency (the emulator has none) -----------------
    def provisioned(self, req):
        name = fn_name(req.segs[2])
        op = req.op
        ok = [("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Type", "application/json")]
        if op == "ListProvisionedConcurrencyConfigs":
            got = self.ask(req, "GET", f"/2015-03-31/functions/{urllib.parse.quote(name)}")
            if not got.ok:
                return error(req, 404, "ResourceNotFoundException", f"Function not found: {name}", "pc")
            with self.lock:
                items = [self.pc_view(c) for k, c in sorted(self.pc.items()) if k[0] == name]
            return Answer(200, {"ProvisionedConcurrencyConfigs": items}, ok, "pc")
        qualifier = req.query.get("Qualifier")
        if not qualifier or qualifier == "$LATEST":
            return error(req, 400, "InvalidParameterValueException",
                         "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", "pc")
        if op == "GetProvisionedConcurrencyConfig" or op == "DeleteProvisionedConcurrencyConfig":
            with self.lock:
                config = self.pc.get((name, qualifier))
                if config is not None and op.startswith("Delete"):
                    del self.pc[(name, qualifier)]
            if config is None:
                return error(req, 404, "ProvisionedConcurrencyConfigNotFoundException",
                             "No Provisioned Concurrency Config found for this function", "pc")
            if op.startswith("Delete"):
                return Answer(204, b"", [("x-amzn-RequestId", str(uuid.uuid4()))], "pc")
            view = self.pc_view(config)
            view.pop("FunctionArn")
            return Answer(200, view, ok, "pc")
        # Put: the qualifier must name an alias or a version of the function.
        q = urllib.parse.quote(name)
        if qualifier.isdigit():
            got = self.ask(req, "GET", f"/2015-03-31/functions/{q}?Qualifier={qualifier}")
            arn = json.loads(got.body).get("Configuration", {}).get("FunctionArn") if got.ok else None
        else:
            got = self.ask(req, "GET", f"/2015-03-31/functions/{q}/aliases/{urllib.parse.quote(qualifier)}")
            arn = json.loads(got.body).get("AliasArn") if got.ok else None
        if arn is None:
            exists = self.ask(req, "GET", f"/2015-03-31/functions/{q}").ok
            what = f"Function not found: {name}:{qualifier}" if exists else f"Function not found: {name}"
            return error(req, 404, "ResourceNotFoundException", what, "pc")
        if not arn.endswith(":" + qualifier):
            arn = f"{arn}:{qualifier}"
        try:
            requested = int(req.json().get("ProvisionedConcurrentExecutions"))
        except (TypeError, ValueError):
            requested = 0
        if requested < 1:
            return error(req, 400, "InvalidParameterValueException",
                         "ProvisionedConcurrentExecutions must be at least 1.", "pc")
        now = time.monotonic()
        with self.lock:
            others = sum(c["requested"] for k, c in self.pc.items() if k != (name, qualifier) and not c["failed"])
            failed = others + requested > self.args.pc_limit
            config = {"arn": arn, "requested": requested, "at": now, "modified": now_stamp(), "failed": failed,
                      "reason": (f"The account's total provisioned concurrency ({others + requested}) would exceed "
                                 f"its limit ({self.args.pc_limit}).") if failed else None}
            self.pc[(name, qualifier)] = config
        view = self.pc_view(config)
        view.pop("FunctionArn")
        return Answer(202, view, ok, "pc")

    def pc_view(self, config):
        ready = time.monotonic() - config["at"] >= self.dur(self.args.pc_ready or 0)
        status = "IN_PROGRESS" if not ready else "FAILED" if config["failed"] else "READY"
        allocated = config["requested"] if status == "READY" else 0
        view = {
            "FunctionArn": config["arn"],
            "RequestedProvisionedConcurrentExecutions": config["requested"],
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "Status": status,
            "LastModified": config["modified"],
        }
        if status == "FAILED":
            view["StatusReason"] = config["reason"]
        return view


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="the emulator's URL, e.g. http://127.0.0.1:5000")
    d = DEFAULTS
    ap.add_argument("--all", action="store_true", help="every behaviour on with AWS's defaults (faults 5%%)")
    ap.add_argument("--throttle", action="store_true", help="token buckets at AWS's control-plane rates")
    ap.add_argument("--rate", action="append", default=[], metavar="KEY=N",
                    help="requests/s for a service (lambda, iam, ...) or service.Operation")
    ap.add_argument("--burst", action="append", default=[], metavar="KEY=N", help="bucket capacity for KEY")
    for flag, key, what in [
        ("--iam-delay", "iam_delay", "seconds a written role is not yet usable by Lambda and Step Functions"),
        ("--pending", "pending", "seconds a new function stays Pending"),
        ("--in-progress", "in_progress", "seconds an update stays InProgress"),
        ("--pc-ready", "pc_ready", "seconds provisioned concurrency takes to become READY"),
        ("--esm-transition", "esm_transition", "seconds an event source mapping stays Creating/Updating/Deleting"),
        ("--queue-deleted-recently", "queue_deleted_recently", "seconds a deleted queue's name stays blocked"),
        ("--faults", "faults", "share of requests answered 500/503 or reset, before or after the emulator"),
        ("--latency-ms", "latency_ms", "milliseconds added to each request (1.5%% of them 10x)"),
    ]:
        ap.add_argument(flag, dest=key, type=float, nargs="?", const=d[key], default=None,
                        help=f"{what} (default {d[key]})")
    ap.add_argument("--pc-limit", type=int, default=900,
                    help="the account's provisioned concurrency (default 900: 1000 minus the 100 kept unreserved)")
    ap.add_argument("--lose-first-write", action="store_true",
                    help="the first copy of every write is processed, then answered 500")
    ap.add_argument("--lose", default=None, metavar="REGEX",
                    help="like --lose-first-write, for REST writes whose path matches REGEX")
    ap.add_argument("--swallow", default=None, metavar="REGEX",
                    help="PUTs whose path and query match REGEX are answered 200 and never reach the emulator")
    ap.add_argument("--deny", default=None, metavar="REGEX",
                    help="operations (service.Operation, e.g. lambda.CreateFunction) matching REGEX are answered AccessDenied")
    ap.add_argument("--delay-ms", type=float, default=0, help="fixed milliseconds added to each request")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every duration")
    ap.add_argument("--seed", type=int, default=None, help="makes every random decision replayable")
    ap.add_argument("--log", default=None, metavar="FILE", help="one JSON line per request")
    ap.add_argument("--log-header", default=None, metavar="NAME", help="also log this request header's value")
    args = ap.parse_args(argv)
    if args.all:
        args.throttle = True
        args.lose_first_write = True
        for key, value in DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    return args


def main():
    args = parse_args(sys.argv[1:])
    layer = Layer(args)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def setup(self):
            super().setup()
            # Headers and body leave in two writes: without this, Nagle's algorithm
            # holds the body until the client's delayed ACK (40 ms a request).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def reset(self):
            # An abortive close: the client sees a reset connection, no answer.
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
            # What the server does after the handler (flush, close) meets harmless buffers.
            self.rfile, self.wfile = io.BytesIO(), io.BytesIO()

        def serve(self):
            started = time.monotonic()
            body = self.read_body()
            if self.path.startswith("/__realism/stats"):
                answer = layer.stats_answer()
                req = None
            else:
                req = Req(self.command, self.path, self.headers, body)
                try:
                    answer = layer.handle(req)
                except (OSError, http.client.HTTPException) as e:
                    answer = Answer(502, f"realism layer: the emulator failed: {e}".encode(), outcome="upstream-error")
            if req is not None:
                layer.record(req, answer, started)
            if answer.status == 0:
                self.reset()
                return
            self.send_response(answer.status)
            names = set()
            for k, v in answer.headers:
                names.add(k.lower())
                self.send_header(k, v)
            if "x-amzn-requestid" not in names:
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = serve

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

        def handle_error(self, request, client_address):
            # A client that hung up (a killed deploy, a timed-out SDK attempt) is
            # not the layer's error; anything else still prints its traceback.
            if isinstance(sys.exc_info()[1], ConnectionError):
                return
            super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
