//! The part of API Gateway's HTTP API that `sls-rs dev` plays: which route a
//! request takes, the payload 2.0 event Lambda gets for it, the answer turned back
//! into an HTTP response, and CORS as the manifest's `provider.httpApi.cors` says.
//! Pure: no sockets here, so each rule has a fast test.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::manifest::{CorsRule, Event, Service};

/// One `httpApi` event of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `GET /items/{id}`, `ANY /files/{proxy+}` or `$default`, as API Gateway keys it.
    pub key: String,
    /// Upper case; `ANY` for every method.
    method: String,
    /// Empty for `$default`.
    segments: Vec<Segment>,
    pub function: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{proxy+}`: the rest of the path, one segment or more.
    Greedy(String),
}

/// What a function URL's event carries as its route: `$default`, every method and path.
pub fn url_route(function: &str) -> Route {
    Route {
        key: "$default".into(),
        method: "ANY".into(),
        segments: vec![],
        function: function.into(),
    }
}

/// The routes of every function's `httpApi` events, keyed as deploy keys them.
pub fn routes(service: &Service) -> Vec<Route> {
    let mut routes = Vec::new();
    for (name, f) in &service.manifest.functions {
        for e in &f.events {
            let Event::HttpApi(e) = e else { continue };
            let key = crate::model::route_key(&e.method, &e.path);
            let (method, path) = key.split_once(' ').unwrap_or(("ANY", ""));
            let segments = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(p) => match p.strip_suffix('+') {
                            Some(p) => Segment::Greedy(p.to_string()),
                            None => Segment::Param(p.to_string()),
                        },
                        None => Segment::Literal(s.to_string()),
                    },
                )
                .collect();
            routes.push(Route {
                method: method.to_string(),
                key,
                segments,
                function: name.clone(),
            });
        }
    }
    routes
}

/// The route API Gateway picks for a request, and its path parameters: among the
/// routes whose path matches, the most specific, segment by segment (a literal
/// before a variable, a variable before a greedy `{proxy+}`), then an exact method
/// before `ANY`; `$default` when nothing else matches.
pub fn pick<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Option<(&'a Route, BTreeMap<String, String>)> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    /// Lower ranks first: each segment's specificity, then whether the method is `ANY`.
    type Rank = (Vec<u8>, bool);
    let mut best: Option<(Rank, &Route, BTreeMap<String, String>)> = None;
    for route in routes.iter().filter(|r| r.key != "$default") {
        if route.method != "ANY" && route.method != method {
            continue;
        }
        let Some(params) = matches(&route.segments, &parts) else {
            continue;
        };
        let specificity = route
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 0,
                Segment::Param(_) => 1,
                Segment::Greedy(_) => 2,
            })
            .collect();
        let rank = (specificity, route.method == "ANY");
        if best.as_ref().is_none_or(|(b, _, _)| rank < *b) {
            best = Some((rank, route, params));
        }
    }
    best.map(|(_, r, p)| (r, p)).or_else(|| {
        routes
            .iter()
            .find(|r| r.key == "$default")
            .map(|r| (r, BTreeMap::new()))
    })
}

fn matches(segments: &[Segment], parts: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                if i >= parts.len() {
                    return None;
                }
                let rest: Vec<String> = parts[i..].iter().map(|p| decode(p)).collect();
                params.insert(name.clone(), rest.join("/"));
                return Some(params);
            }
            Segment::Literal(l) => {
                if parts.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                params.insert(name.clone(), decode(parts.get(i)?));
            }
        }
    }
    (segments.len() == parts.len()).then_some(params)
}

/// Percent-decoding (`%2F` → `/`); a malformed escape stays as it is.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `sls-rs dev` knows of one HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// As sent, without the `?`.
    pub query: String,
    /// In the order sent; names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub source_ip: String,
    pub request_id: String,
    pub account: String,
}

impl Request {
    /// A header's value (the first, when it repeats), by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Bodies of these types reach the function as text; any other is base64, as API
/// Gateway sends it.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | ""
        )
}

/// The payload 2.0 event API Gateway sends for `request` on `route`.
pub fn event(request: &Request, route: &Route, params: &BTreeMap<String, String>) -> Value {
    let now = std::time::SystemTime::now();
    let epoch_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // Repeated headers are joined with commas; cookies go to their own list.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in request.query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(decode(k))
            .and_modify(|e| {
                e.push(',');
                e.push_str(&decode(v));
            })
            .or_insert_with(|| decode(v));
    }
    let host = request.header("host").unwrap_or("127.0.0.1").to_string();
    let mut e = json!({
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": request.account,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent").unwrap_or_default(),
            },
            "requestId": request.request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": epoch_ms as u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        e["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        e["pathParameters"] = json!(params);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(&request.body) {
            Ok(text) if is_text(request.header("content-type")) => e["body"] = json!(text),
            _ => {
                e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&request.body));
                e["isBase64Encoded"] = json!(true);
            }
        }
    }
    e
}

/// API Gateway's `requestContext.time`: `12/Mar/2020:19:03:58 +0000`, rearranged
/// from the RFC 3339 form (`2020-03-12T19:03:58Z`).
fn clf_time(t: std::time::SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rfc = humantime::format_rfc3339_seconds(t).to_string();
    let (date, time) = rfc.split_once('T').unwrap_or((&rfc, "00:00:00Z"));
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (
        parts.next().unwrap_or_default(),
        parts
            .next()
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(1),
        parts.next().unwrap_or_default(),
    );
    format!(
        "{day}/{}/{year}:{} +0000",
        MONTHS[month.clamp(1, 12) - 1],
        time.trim_end_matches('Z')
    )
}

/// An HTTP answer, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Names in lower case; `set-cookie` may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    /// API Gateway's own answer, with its message.
    pub fn message(status: u16, message: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(json!({ "message": message }).to_string()),
        }
    }
}

/// What API Gateway makes of a function's answer (payload 2.0): an object with a
/// `statusCode` is a response (headers, cookies, body, base64); any other JSON is
/// a 200 with that JSON as the body; anything else is a 502, as on AWS.
pub fn response(answer: &[u8]) -> Result<Response, String> {
    let value: Value = serde_json::from_slice(answer)
        .map_err(|e| format!("the function's answer is not JSON ({e})"))?;
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::copy_from_slice(answer),
        });
    };
    let status = object["statusCode"]
        .as_u64()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| format!("statusCode {} is not an HTTP status", object["statusCode"]))?
        as u16;
    let mut headers: Vec<(String, String)> = Vec::new();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    // Payload 2.0 has no `multiValueHeaders`: API Gateway ignores them, and so does this.
    let empty = Map::new();
    for (name, value) in object
        .get("headers")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        if let Some(v) = text(value) {
            headers.push((name.to_ascii_lowercase(), v));
        }
    }
    for cookie in object
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        headers.push(("set-cookie".into(), cookie.to_string()));
    }
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if object.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| format!("isBase64Encoded, but the body is not base64 ({e})"))?,
            )
        }
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => Bytes::from(other.to_string()),
    };
    if !body.is_empty() && !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    for (name, value) in &headers {
        let valid = hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && hyper::header::HeaderValue::from_str(value).is_ok();
        if !valid {
            return Err(format!(
                "the header `{name}: {value}` cannot be sent in HTTP"
            ));
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// CORS as API Gateway applies `provider.httpApi.cors`.
pub struct Cors<'a>(pub &'a CorsRule);

impl Cors<'_> {
    fn origin_allowed(&self, origin: &str) -> bool {
        self.0
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o == origin)
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), which API Gateway gives without calling a
    /// function: 204, with the allowances only when the origin is allowed.
    pub fn preflight(&self, request: &Request) -> Option<Response> {
        if request.method != "OPTIONS" {
            return None;
        }
        let origin = request.header("origin")?;
        let asked = request.header("access-control-request-method")?;
        let mut headers = Vec::new();
        let method_allowed = self
            .0
            .allowed_methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(asked));
        if self.origin_allowed(origin) && method_allowed {
            headers.push((
                "access-control-allow-origin".to_string(),
                self.allow_origin(origin),
            ));
            headers.push((
                "access-control-allow-methods".to_string(),
                self.0.allowed_methods.join(","),
            ));
            if let Some(asked) = request.header("access-control-request-headers") {
                let allowed: Vec<&str> = asked
                    .split(',')
                    .map(str::trim)
                    .filter(|h| {
                        self.0
                            .allowed_headers
                            .iter()
                            .any(|a| a == "*" || a.eq_ignore_ascii_case(h))
                    })
                    .collect();
                if !allowed.is_empty() {
                    headers.push((
                        "access-control-allow-headers".to_string(),
                        allowed.join(","),
                    ));
                }
            }
            if let Some(age) = self.0.max_age {
                headers.push(("access-control-max-age".to_string(), age.to_string()));
            }
        }
        Some(Response {
            status: 204,
            headers,
            body: Bytes::new(),
        })
    }

    fn allow_origin(&self, origin: &str) -> String {
        if self.0.allowed_origins.iter().any(|o| o == "*") {
            "*".to_string()
        } else {
            origin.to_string()
        }
    }

    /// The header an answer to an allowed origin carries. The function's own
    /// `access-control-*` headers go: API Gateway's CORS replaces them.
    pub fn decorate(&self, request: &Request, response: &mut Response) {
        response
            .headers
            .retain(|(n, _)| !n.starts_with("access-control-"));
        if let Some(origin) = request.header("origin").filter(|o| self.origin_allowed(o)) {
            response.headers.push((
                "access-control-allow-origin".to_string(),
                self.allow_origin(origin),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(key: &str, function: &str) -> Route {
        let (method, path) = key.split_once(' ').unwrap_or(("*", key));
        let yaml = format!(
            "service: s\nprovider: {{ name: aws }}\nfunctions:\n  {function}:\n    handler: h\n    events:\n      - httpApi: {{ method: '{method}', path: '{path}' }}\n"
        );
        let service = crate::model::tests::service(&yaml);
        routes(&service).remove(0)
    }

    fn request(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Bytes::copy_from_slice(body),
            source_ip: "127.0.0.1".into(),
            request_id: "r1".into(),
            account: "000000000000".into(),
        }
    }

    #[test]
    fn the_most_specific_route_wins_and_default_catches_the_rest() {
        let routes = vec![
            route("ANY /items/{proxy+}", "proxy"),
            route("GET /items/{id}", "get"),
            route("GET /items/new", "new"),
            route("ANY /items/{id}", "any"),
            route("$default", "fallback"),
        ];
        let to = |m: &str, p: &str| pick(&routes, m, p).map(|(r, p)| (r.function.clone(), p));
        assert_eq!(to("GET", "/items/new").unwrap().0, "new");
        let (f, params) = to("GET", "/items/42").unwrap();
        assert_eq!((f.as_str(), params["id"].as_str()), ("get", "42"));
        assert_eq!(to("DELETE", "/items/42").unwrap().0, "any");
        let (f, params) = to("GET", "/items/a/b%20c").unwrap();
        assert_eq!((f.as_str(), params["proxy"].as_str()), ("proxy", "a/b c"));
        assert_eq!(to("GET", "/other").unwrap().0, "fallback");
        assert_eq!(
            to("GET", "/items").unwrap().0,
            "fallback",
            "a greedy variable needs a segment"
        );
        let without_default = &routes[..4];
        assert!(pick(without_default, "GET", "/nothing").is_none());
        // Two greedy routes: the longer literal prefix wins, whatever the order.
        let greedy = vec![
            route("ANY /{proxy+}", "root"),
            route("ANY /api/{proxy+}", "api"),
        ];
        assert_eq!(pick(&greedy, "GET", "/api/x/y").unwrap().0.function, "api");
        assert_eq!(pick(&greedy, "GET", "/web/x").unwrap().0.function, "root");
    }

    #[test]
    fn the_request_time_is_in_api_gateways_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_584_039_838);
        assert_eq!(clf_time(t), "12/Mar/2020:19:03:58 +0000");
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(clf_time(leap), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn the_event_carries_what_api_gateway_sends() {
        let r = route("POST /users/{id}", "f");
        let req = request(
            "POST",
            "/users/ada%20l",
            "tag=a&tag=b&q=x%2By",
            &[
                ("Host", "127.0.0.1:3000"),
                ("X-Trace", "1"),
                ("x-trace", "2"),
                ("Cookie", "a=1; b=2"),
                ("Content-Type", "application/json"),
            ],
            br#"{"n":1}"#,
        );
        let params = pick(std::slice::from_ref(&r), "POST", "/users/ada%20l")
            .unwrap()
            .1;
        let e = event(&req, &r, &params);
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "POST /users/{id}");
        assert_eq!(e["rawPath"], "/users/ada%20l");
        assert_eq!(e["pathParameters"]["id"], "ada l");
        assert_eq!(e["queryStringParameters"]["tag"], "a,b");
        assert_eq!(e["queryStringParameters"]["q"], "x+y");
        assert_eq!(e["headers"]["x-trace"], "1,2");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["body"], r#"{"n":1}"#);
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["requestContext"]["requestId"], "r1");
        // The event is what lambda_http's types read.
        let typed: aws_lambda_events::event::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(e).unwrap();
        assert_eq!(typed.path_parameters["id"], "ada l");

        let binary = request(
            "PUT",
            "/users/1",
            "",
            &[("content-type", "image/png")],
            &[0x89, b'P', 0],
        );
        let e = event(&binary, &r, &BTreeMap::new());
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "iVAA");
    }

    #[test]
    fn answers_map_back_as_api_gateway_maps_them() {
        let plain = response(br#"{"hello":"world"}"#).unwrap();
        assert_eq!(plain.status, 200);
        assert_eq!(&plain.body[..], br#"{"hello":"world"}"#);
        let full = response(
            br#"{"statusCode":201,"headers":{"X-Id":"7","Content-Type":"text/plain"},"cookies":["s=1","t=2"],"body":"made"}"#,
        )
        .unwrap();
        assert_eq!(full.status, 201);
        assert!(full.headers.contains(&("x-id".into(), "7".into())));
        assert!(full
            .headers
            .contains(&("content-type".into(), "text/plain".into())));
        assert_eq!(
            full.headers
                .iter()
                .filter(|(n, _)| n == "set-cookie")
                .count(),
            2
        );
        assert_eq!(&full.body[..], b"made");
        let binary =
            response(br#"{"statusCode":200,"body":"iVAA","isBase64Encoded":true}"#).unwrap();
        assert_eq!(&binary.body[..], &[0x89, b'P', 0]);
        assert!(response(b"not json").is_err());
        assert!(response(br#"{"statusCode":200,"headers":{"x-bad":"a\nb"}}"#).is_err());
        let multi =
            response(br#"{"statusCode":200,"multiValueHeaders":{"x-m":["1","2"]}}"#).unwrap();
        assert!(
            multi.headers.iter().all(|(n, _)| n != "x-m"),
            "payload 2.0 has no multiValueHeaders"
        );
        assert!(response(br#"{"statusCode":"ok"}"#).is_err());
    }

    #[test]
    fn a_preflight_is_answered_for_allowed_origins_only() {
        let rule = CorsRule {
            allowed_origins: vec!["https://app.example".into()],
            allowed_methods: vec!["GET".into(), "POST".into()],
            allowed_headers: vec!["content-type".into()],
            max_age: Some(600),
        };
        let cors = Cors(&rule);
        let pre = |origin: &str| {
            cors.preflight(&request(
                "OPTIONS",
                "/x",
                "",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "Content-Type, X-Other"),
                ],
                b"",
            ))
            .unwrap()
        };
        let ok = pre("https://app.example");
        assert_eq!(ok.status, 204);
        assert!(ok.headers.contains(&(
            "access-control-allow-origin".into(),
            "https://app.example".into()
        )));
        assert!(ok
            .headers
            .contains(&("access-control-allow-headers".into(), "Content-Type".into())));
        assert!(ok
            .headers
            .contains(&("access-control-max-age".into(), "600".into())));
        let other = pre("https://evil.example");
        assert!(other.headers.is_empty());
        let mut answer = Response::message(200, "x");
        cors.decorate(
            &request("GET", "/x", "", &[("Origin", "https://app.example")], b""),
            &mut answer,
        );
        assert!(answer.headers.contains(&(
            "access-control-allow-origin".into(),
            "https://app.example".into()
        )));
        assert!(cors
            .preflight(&request(
                "GET",
                "/x",
                "",
                &[("origin", "https://app.example")],
                b""
            ))
            .is_none());
    }
}
