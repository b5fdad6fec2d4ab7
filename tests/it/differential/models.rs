//! Written models of how other server stacks read a request, where no interpreter for the
//! stack is at hand: PHP's variable-name mangling (league/oauth2-server, Laravel Passport), Rack's
//! bracket names and `;` separators (Doorkeeper on Rack 2), ASP.NET's case-insensitive form
//! collection (Duende), Go's request-target parsing (`ParseRequestURI`: Hydra, Dex) and
//! pre-1.17 `;` splitting, Puma's and Rails' routing of non-origin targets and `.format`
//! suffixes, Spring MVC's suffix matching, Symfony's `X-Original-URL` routing, a stack that
//! reads every body as a form whatever its type, and one that reads a POST's body only. Each
//! model is a small function from the raw forwarded request to a [`View`].

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use std::collections::BTreeMap;

/// What a server reads from a request: the endpoint it routes to, its parameters (name →
/// every value, in order) and the client it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub path: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub client: Option<String>,
    /// Parameter names are looked up ignoring case (ASP.NET).
    pub case_insensitive: bool,
    /// The stack read a body it does not understand as noise (a JSON body through a form
    /// parser): only what it reads under an interpreted name, and its client, must agree.
    pub partial: bool,
}

/// A raw HTTP/1.1 request split as every model reads it.
pub struct Raw {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn parse(raw: &[u8]) -> Raw {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head");
        let head = String::from_utf8_lossy(&raw[..end]);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let method = request_line.split(' ').next().unwrap_or("").to_owned();
        let target = request_line.split(' ').nth(1).unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Raw {
            method,
            target,
            headers,
            body,
        }
    }

    /// The last value of a header (gunicorn, Rack and PHP keep the last).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    fn form(&self) -> Option<String> {
        let ct = self.header("content-type")?.to_ascii_lowercase();
        ct.starts_with("application/x-www-form-urlencoded")
            .then(|| String::from_utf8_lossy(&self.body).into_owned())
    }

    fn json(&self) -> Vec<(String, String)> {
        let is_json = self
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
        if !is_json {
            return Vec::new();
        }
        let value: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..i]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || data.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&data[i + 2..i + 2 + size]);
        data = &data[i + 4 + size..];
    }
    out
}

/// `+` then `%XX`, bytes as Latin-1 where not UTF-8 (lossy).
fn urldecode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

fn pairs(text: &str, separators: &[char]) -> Vec<(String, String)> {
    text.split(separators)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (urldecode(k), urldecode(v))
        })
        .collect()
}

fn collect(pairs: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k).or_default().push(v);
    }
    map
}

/// The sub claim of an (unverified) JWT, as a server picks the client of an assertion.
pub fn assertion_sub(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// A lenient Basic reader: any case, any whitespace, padding optional (Ruby's `decode64`,
/// PHP's `base64_decode`, Node's `Buffer.from`), then the id form-decoded.
fn basic_lenient(raw: &Raw) -> Option<String> {
    let header = raw.header("authorization")?;
    let (scheme, rest) = header.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = rest.trim().trim_end_matches('=');
    let decoded = STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| STANDARD.decode(rest.trim()))
        .ok()?;
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    Some(urldecode(decoded.split(':').next().unwrap_or("")))
}

/// The client a server authenticates: Basic first (Spring, fosite, Duende, Doorkeeper,
/// Authlib), or the `client_id` parameter first (league/oauth2-server); then the assertion.
fn client(
    raw: &Raw,
    params: &BTreeMap<String, Vec<String>>,
    basic_first: bool,
    get: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let basic = basic_lenient(raw);
    let param = get("client_id");
    let first = if basic_first {
        basic.or(param)
    } else {
        param.or(basic)
    };
    first.or_else(|| {
        params
            .get("client_assertion")
            .and_then(|v| v.last())
            .and_then(|t| assertion_sub(t))
    })
}

/// Go's `url.ParseRequestURI` path: origin form, `scheme:/path`, `scheme://host/path`.
pub fn go_path(target: &str) -> Option<String> {
    let no_query = target.split('?').next().unwrap_or("");
    if no_query.starts_with('/') {
        return Some(no_query.to_owned());
    }
    let (scheme, rest) = no_query.split_once(':')?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return None;
    }
    match rest.strip_prefix("//") {
        Some(after) => Some(
            after
                .find('/')
                .map_or("/".into(), |i| after[i..].to_owned()),
        ),
        None if rest.starts_with('/') => Some(rest.to_owned()),
        None => None,
    }
}

/// Puma hands a target without a leading `/` to Rails as the path, which routes it rooted.
pub fn puma_path(target: &str) -> String {
    let no_query = target.split('?').next().unwrap_or("");
    go_path(target).unwrap_or_else(|| format!("/{}", no_query.trim_start_matches('/')))
}

/// Rails format routes and Spring MVC (< 5.3) suffix matching: `/a/b.json` serves `/a/b`;
/// Tomcat drops `;params` from path segments.
pub fn suffix_route(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let plain: Vec<&str> = decoded
        .split('/')
        .map(|seg| seg.split(';').next().unwrap_or(""))
        .collect();
    let plain = plain.join("/");
    let last = plain.rfind('/').unwrap_or(0);
    match plain[last..].find('.') {
        Some(dot) => plain[..last + dot].to_owned(),
        None => plain,
    }
}

/// PHP's `parse_str` / `$_POST`: leading spaces dropped; in the base name, ` `, `.` and an
/// unmatched `[` become `_`; `a[]` and `a[b]` are arrays; a NUL ends the name; the last
/// value wins.
pub fn php(raw: &Raw) -> View {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let body = raw.form().unwrap_or_default();
    let all = pairs(raw.query(), &['&'])
        .into_iter()
        .chain(pairs(&body, &['&']))
        .chain(raw.json());
    for (name, value) in all {
        let name = name
            .split('\0')
            .next()
            .unwrap_or("")
            .trim_start_matches(' ');
        let (base, rest) = match name.find('[') {
            Some(i) if name[i..].contains(']') => (&name[..i], &name[i..]),
            _ => (name, ""),
        };
        let mut base: String = base
            .chars()
            .map(|c| if matches!(c, ' ' | '.' | '[') { '_' } else { c })
            .collect();
        if base.is_empty() {
            continue;
        }
        if rest.starts_with("[]") {
            map.entry(base).or_default().push(value);
        } else {
            base.push_str(rest.split_inclusive(']').next().unwrap_or(""));
            map.insert(base, vec![value]);
        }
    }
    at_target(raw, map, false, Pick::Last, false)
}

/// Rack 2 (`parse_nested_query`): `&` and `;` separate; leading brackets are dropped
/// (`[a]` is `a`); `a[]` collects; the last value wins. Puma's routing of the target.
pub fn rack(raw: &Raw) -> View {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let body = raw.form().unwrap_or_default();
    let all = pairs(raw.query(), &['&', ';'])
        .into_iter()
        .chain(pairs(&body, &['&', ';']))
        .chain(raw.json());
    for (name, value) in all {
        let name = name.trim_start_matches(['[', ']']);
        let (base, rest) = name.split_at(name.find('[').unwrap_or(name.len()));
        if base.is_empty() {
            continue;
        }
        if rest.starts_with("[]") {
            map.entry(base.to_owned()).or_default().push(value);
        } else {
            let key = format!("{base}{}", rest.split_inclusive(']').next().unwrap_or(""));
            map.insert(key, vec![value]);
        }
    }
    let get = |n: &str| map.get(n).and_then(|v| v.last().cloned());
    let client = client(raw, &map, true, get);
    View {
        path: suffix_route(&puma_path(&raw.target)),
        client,
        params: map,
        case_insensitive: false,
        partial: false,
    }
}

/// ASP.NET Core's form and query collections: names compared ignoring case, repeated values
/// joined. Basic first (Duende).
pub fn aspnet(raw: &Raw) -> View {
    let body = raw.form().unwrap_or_default();
    let all = pairs(raw.query(), &['&'])
        .into_iter()
        .chain(pairs(&body, &['&']))
        .chain(raw.json())
        .map(|(k, v)| (k.to_ascii_lowercase(), v));
    let map = collect(all);
    let get = |n: &str| map.get(&n.to_ascii_lowercase()).map(|v| v.join(","));
    let client = client(raw, &map, true, get);
    View {
        path: raw.target.split('?').next().unwrap_or("").to_owned(),
        client,
        params: map,
        case_insensitive: true,
        partial: false,
    }
}

/// Go before 1.17 (and Python before 3.9.2): `;` separates like `&`; the first value is the
/// one `Form.Get` returns. Go's request-target parsing; Basic first (fosite).
pub fn go(raw: &Raw) -> View {
    let body = raw.form().unwrap_or_default();
    let map = collect(
        pairs(raw.query(), &['&', ';'])
            .into_iter()
            .chain(pairs(&body, &['&', ';']))
            .chain(raw.json()),
    );
    let get = |n: &str| map.get(n).and_then(|v| v.first().cloned());
    let client = client(raw, &map, true, get);
    View {
        path: go_path(&raw.target).unwrap_or_default(),
        client,
        params: map,
        case_insensitive: false,
        partial: false,
    }
}

/// Spring on Tomcat: suffix matching and `;params` in the path; Basic first. Symfony routes
/// on `X-Original-URL` / `X-Rewrite-URL` when present.
pub fn spring_symfony(raw: &Raw) -> View {
    let mut view = go(raw);
    let routed = raw
        .header("x-original-url")
        .or_else(|| raw.header("x-rewrite-url"))
        .map(str::to_owned)
        .unwrap_or_else(|| raw.target.clone());
    view.path = suffix_route(routed.split('?').next().unwrap_or(""));
    view.params = collect(
        pairs(raw.query(), &['&'])
            .into_iter()
            .chain(pairs(&raw.form().unwrap_or_default(), &['&']))
            .chain(raw.json()),
    );
    view
}

/// A stack that hands every body to its form parser whatever its `Content-Type`: a WSGI
/// application reading `parse_qs(environ["wsgi.input"].read())` (the example application of a
/// Python OIDC provider does), PHP's `parse_str(file_get_contents("php://input"))`, Express
/// with `urlencoded({type: () => true})`. `&` separates; the first value wins
/// (`parse_qs(…)[name][0]`); the client is the `client_id` parameter first.
pub fn form_any_body(raw: &Raw) -> View {
    let body = String::from_utf8_lossy(&raw.body);
    let map = collect(
        pairs(raw.query(), &['&'])
            .into_iter()
            .chain(pairs(&body, &['&'])),
    );
    let partial = raw.form().is_none() && !raw.body.is_empty();
    at_target(raw, map, false, Pick::First, partial)
}

/// A stack that reads a POST's parameters from its body only and a GET's (or HEAD's) from its
/// query only: Django's `request.POST` / `request.GET`, Express's `req.body`, Rails'
/// `request.request_parameters`. Basic first (django-oauth-toolkit).
pub fn body_only_post(raw: &Raw) -> View {
    let all = if raw.method.eq_ignore_ascii_case("POST") {
        let body = raw.form().unwrap_or_default();
        pairs(&body, &['&']).into_iter().chain(raw.json()).collect()
    } else {
        pairs(raw.query(), &['&'])
    };
    at_target(raw, collect(all), true, Pick::Last, false)
}

/// Which value of a repeated name a stack's `get` returns.
#[derive(Clone, Copy)]
enum Pick {
    First,
    Last,
}

/// The view of a stack that routes on the target's path: `map` read as it is, the client
/// Basic first or the `client_id` parameter first.
fn at_target(
    raw: &Raw,
    map: BTreeMap<String, Vec<String>>,
    basic_first: bool,
    pick: Pick,
    partial: bool,
) -> View {
    let get = |n: &str| {
        let values = map.get(n)?;
        match pick {
            Pick::First => values.first(),
            Pick::Last => values.last(),
        }
        .cloned()
    };
    let client = client(raw, &map, basic_first, get);
    View {
        path: raw.target.split('?').next().unwrap_or("").to_owned(),
        client,
        params: map,
        case_insensitive: false,
        partial,
    }
}

/// Every model, by name.
pub fn all(raw: &[u8]) -> Vec<(&'static str, View)> {
    let raw = Raw::parse(raw);
    vec![
        ("php", php(&raw)),
        ("rack", rack(&raw)),
        ("aspnet", aspnet(&raw)),
        ("go", go(&raw)),
        ("spring_symfony", spring_symfony(&raw)),
        ("form_any_body", form_any_body(&raw)),
        ("body_only_post", body_only_post(&raw)),
    ]
}
