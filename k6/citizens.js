// EU citizens' visits under load (EUGO, the Point of Single Contact): browse the public catalogue (a page, the same
// page revalidated by its ETag, a procedure, sometimes its JSON-LD, its form), search it in English and Greek, sign
// in through eIDAS, apply online with the evidence the procedure asks for, and follow the application (my
// applications, its detail, a message to the office, read back). k6/cases.js is the employees' day.
//
//   ./dev up && ./dev k6 citizens          (k6 is built from its Go module the first time; args go to `k6 run`)
//   VUS=8 HOLD=60s ./dev k6 citizens       (BASE_URL / KEYCLOAK_URL aim it elsewhere)
//   SCENARIO=rate RATE=2 DURATION=60s ./dev k6 citizens    fixed arrival rate (visits/s; dropped_iterations if it lags;
//                                          TIME_UNIT=4s makes RATE visits per 4 s)
//   SCENARIO=vus VUS=8 DURATION=60s ./dev k6 citizens      closed loop, VUS from the first second to the last
//   APPLY=0.3 ./dev k6 citizens            the share of visits that apply (default 1: every visit applies)
//   FORM=auto|require|skip                 the form endpoint: auto (default) detects it in setup and, if it answers
//                                          404 there, tolerates its 404 (counted in `form_missing`)
//
// Rate limits: under /api/eugo/ each citizen counts in windows of their own (KEP_RATE_LIMIT_READS / _WRITES, as an
// employee), but the public catalogue is anonymous, counted by address (KEP_RATE_LIMIT_ANONYMOUS, 300/minute by
// default), and every VU here comes from 127.0.0.1: past ~5 catalogue requests/s the run meets 429s (which fail the
// thresholds). Start the API for load tests with e.g. `KEP_RATE_LIMIT_ANONYMOUS=100000/minute` (README: Load test).
//
// Sign-in: each VU is its own citizen of the eIDAS node double (`load-001`… by __VU, kepctl/eidas_realms.py
// LOAD_CITIZENS; VUs beyond LOAD_CITIZENS share them in turn) and makes a browser's round trip without a browser, as
// tests/kepctl/test_eidas_realms.py does: the code flow of `kep-eugo` with PKCE and `kc_idp_hint=eidas`, the
// redirects followed by hand, the node's login form, the SAMLResponse posted back to the broker, the code exchanged.
// Keycloak's cookies are `Secure`, which k6's cookie jar keeps off http://127.0.0.1 (a browser sends them there):
// the round trip keeps its own cookies by path and sends them itself. A VU signs in again (a fresh browser) when its
// token has less than REFRESH_S (default 60) of its five minutes left.
//
// Thresholds fail the run (k6 exits 99) when the system is broken or slower than them.
import http from 'k6/http';
import { check, fail } from 'k6';
import { parseHTML } from 'k6/html';
import { randomBytes, sha256 } from 'k6/crypto';
import { b64decode, b64encode } from 'k6/encoding';
import { Counter, Trend } from 'k6/metrics';

// eIDAS sign-ins made (the first of each VU, and again when its token neared expiry)
const signins = new Counter('signins');
// a whole sign-in round trip, ms (its requests are also timed one by one: eidas_*)
const signinTime = new Trend('signin_duration', true);
// applications kept but not routed (202): the seed's routing rules send every EUGO procedure to EKE-ATT-001
const unrouted = new Counter('unrouted');
// form requests answered 404 while FORM=auto found the endpoint missing in setup
const formMissing = new Counter('form_missing');

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const KEYCLOAK = __ENV.KEYCLOAK_URL || 'http://127.0.0.1:18180';
const CITIZENS = `${KEYCLOAK}/realms/kep-citizens`; // kepctl/eidas_realms.py CITIZENS_REALM
const NODE = `${KEYCLOAK}/realms/eidas-node`; // NODE_REALM, the eIDAS node double
const CLIENT = 'kep-eugo'; // CITIZEN_CLIENT
// a redirect URI the client allows (kepctl/realm.py LOCAL_APP_URLS); never opened: the code is read from the redirect
const REDIRECT = __ENV.REDIRECT_URI || 'http://127.0.0.1:8000/eugo/callback';
const NODE_PASSWORD = __ENV.NODE_PASSWORD || 'eidas-demo'; // the double's citizens' password, development only
const LOAD_CITIZENS = Number(__ENV.LOAD_CITIZENS || 40);
const REFRESH_S = Number(__ENV.REFRESH_S || 60);
const APPLY = Number(__ENV.APPLY === undefined ? 1 : __ENV.APPLY);
const FORM = __ENV.FORM || 'auto';
const PAGE_SIZE = Number(__ENV.PAGE_SIZE || 2); // the demo activates five EUGO procedures: three pages
const SCENARIO = __ENV.SCENARIO || 'ramp';
const NAMES = ['list', 'revalidate', 'detail', 'jsonld', 'form', 'search', 'eidas_authorize', 'eidas_node_login',
  'eidas_assertion', 'eidas_token', 'apply', 'mine', 'application', 'message', 'reread'];
const PDF = '%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n';
const ROUTED_OR_KEPT = http.expectedStatuses(201, 202);
const FORM_OR_MISSING = http.expectedStatuses(200, 404);

function scenario() {
  const duration = __ENV.DURATION || '60s';
  if (SCENARIO === 'ramp') {
    const vus = Number(__ENV.VUS || 4);
    return {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: __ENV.RAMP || '10s', target: vus },
        { duration: __ENV.HOLD || '30s', target: vus },
        { duration: '5s', target: 0 },
      ],
      gracefulRampDown: '10s',
    };
  }
  if (SCENARIO === 'rate') {
    const rate = Number(__ENV.RATE || 2);
    return {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: __ENV.TIME_UNIT || '1s', // RATE=1 TIME_UNIT=4s: a visit every 4 s
      duration,
      // a visit takes ~12 requests, and a VU's first also its sign-in; VUs beyond these mean the system lags
      preAllocatedVUs: Number(__ENV.PREALLOCATED_VUS || Math.max(4, 4 * rate)),
      maxVUs: Number(__ENV.MAX_VUS || Math.min(LOAD_CITIZENS, Math.max(8, 8 * rate))),
      gracefulStop: '10s',
    };
  }
  if (SCENARIO === 'vus') {
    return { executor: 'constant-vus', vus: Number(__ENV.VUS || 8), duration, gracefulStop: '10s' };
  }
  throw new Error(`SCENARIO must be ramp, rate or vus, not ${SCENARIO}`);
}

// p95 limits about twice to three times what 8 VUs in a closed loop measured on the 2-core dev box (bench/README.md:
// k6/citizens.js), as cases.js's are; the node double's password hashing is most of a sign-in
const thresholds = {
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
  'http_req_duration{name:list}': ['p(95)<300'],
  'http_req_duration{name:revalidate}': ['p(95)<300'],
  'http_req_duration{name:detail}': ['p(95)<300'],
  'http_req_duration{name:jsonld}': ['p(95)<300'],
  'http_req_duration{name:form}': ['p(95)<300'],
  'http_req_duration{name:search}': ['p(95)<300'],
  'http_req_duration{name:apply}': ['p(95)<2000'],
  'http_req_duration{name:mine}': ['p(95)<500'],
  'http_req_duration{name:application}': ['p(95)<500'],
  'http_req_duration{name:message}': ['p(95)<1000'],
  'http_req_duration{name:reread}': ['p(95)<500'],
  signin_duration: ['p(95)<8000'],
};
if (SCENARIO !== 'ramp') {
  // thresholds that always pass, so that --summary-export carries counts and failures per request name
  for (const name of NAMES) {
    thresholds[`http_reqs{name:${name}}`] = ['count>=0'];
    thresholds[`http_req_failed{name:${name}}`] = ['rate>=0'];
    thresholds[`http_req_duration{name:${name}}`] ||= ['max>=0']; // the sign-in's steps too
  }
}

export const options = {
  scenarios: { citizens: scenario() },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

// ---------------------------------------------------------------------------------------------------------------
// a browser's cookies for the sign-in: by name and path (one host: Keycloak), sent by hand (module comment)

function pathOf(url) {
  const rest = url.replace(/^[a-z]+:\/\/[^/]+/i, '');
  return rest.split(/[?#]/)[0] || '/';
}

function pathMatches(cookiePath, requestPath) {
  // RFC 6265 5.1.4
  if (requestPath === cookiePath) return true;
  return requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/');
}

function qs(params) {
  return Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

class Browser {
  constructor() {
    this.cookies = {}; // `${name} ${path}` → {name, value, path}
  }

  cookieHeader(url) {
    const path = pathOf(url);
    return Object.values(this.cookies)
      .filter((c) => pathMatches(c.path, path))
      .sort((a, b) => b.path.length - a.path.length) // longer paths first, as browsers send them
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  keep(res, url) {
    const now = Date.now();
    for (const list of Object.values(res.cookies || {})) {
      for (const c of list) {
        let path = c.path;
        if (!path || !path.startsWith('/')) {
          const requested = pathOf(url);
          path = requested.lastIndexOf('/') > 0 ? requested.slice(0, requested.lastIndexOf('/')) : '/';
        }
        const key = `${c.name} ${path}`;
        // Go's MaxAge < 0 is `Max-Age=0`; Keycloak also expires a cookie by a past Expires
        if (c.max_age < 0 || (c.expires > 0 && c.expires <= now)) delete this.cookies[key];
        else this.cookies[key] = { name: c.name, value: c.value, path };
      }
    }
  }

  request(method, url, body, name) {
    const headers = {};
    const cookie = this.cookieHeader(url);
    if (cookie) headers.Cookie = cookie;
    // an empty jar per request: k6's own would add the cookies it may send over http, twice with ours
    const res = http.request(method, url, body, { headers, redirects: 0, jar: new http.CookieJar(), tags: { name } });
    this.keep(res, url);
    return res;
  }

  follow(res, name, stop) {
    // redirects followed by hand (their cookies kept), up to `stop(location)` or a page that is not a redirect
    for (let i = 0; i < 8 && (res.status === 302 || res.status === 303); i++) {
      let location = res.headers.Location;
      if (location.startsWith('/')) location = res.url.match(/^[a-z]+:\/\/[^/]+/i)[0] + location;
      if (stop && stop(location)) return res;
      res = this.request('GET', location, null, name);
    }
    return res;
  }
}

function form(res, selector) {
  const found = parseHTML(res.body).find(selector);
  if (found.size() === 0) return null;
  const fields = {};
  for (const input of found.first().find('input').toArray()) {
    const name = input.attr('name');
    if (name) fields[name] = input.attr('value') || '';
  }
  return { action: found.first().attr('action'), fields };
}

function claims(token) {
  return JSON.parse(b64decode(token.split('.')[1], 'rawurl', 's'));
}

// one eIDAS sign-in of a node citizen, as a fresh browser makes it: the access token and its expiry (ms), or null
function signIn(username) {
  const started = Date.now();
  const browser = new Browser();
  const verifier = b64encode(randomBytes(48), 'rawurl');
  const state = b64encode(randomBytes(8), 'rawurl');
  const query = {
    client_id: CLIENT, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state,
    code_challenge: sha256(verifier, 'base64rawurl'), code_challenge_method: 'S256', kc_idp_hint: 'eidas',
  };
  // the citizens' realm hands over to the broker, the broker redirects to the node with a signed AuthnRequest
  let sentToNode = false;
  let page = browser.request('GET', `${CITIZENS}/protocol/openid-connect/auth?${qs(query)}`, null, 'eidas_authorize');
  page = browser.follow(page, 'eidas_authorize', (location) => {
    if (location.startsWith(`${NODE}/protocol/saml?`)) sentToNode = true;
    return false;
  });
  const login = form(page, 'form#kc-form-login');
  if (!check(login, { 'eidas: the node asks who signs in': (f) => sentToNode && f !== null })) {
    console.error(`${username}: no login form at the node: ${page.status} ${String(page.body).slice(0, 200)}`);
    return null;
  }
  const posted = browser.request('POST', login.action,
    { username, password: NODE_PASSWORD, credentialId: '' }, 'eidas_node_login');
  // the node's answer: a form a browser's script submits at once, the signed SAMLResponse in a hidden field
  const saml = form(posted, 'form');
  const answered = (f) => f !== null && 'SAMLResponse' in f.fields;
  if (!check(saml, { 'eidas: the node answers with a SAMLResponse': answered })) {
    console.error(`${username}: no SAMLResponse: ${posted.status} ${String(posted.body).slice(0, 200)}`);
    return null;
  }
  // first-broker-login (the account made, no form) and back to the web client with a code
  let back = browser.request('POST', saml.action, saml.fields, 'eidas_assertion');
  back = browser.follow(back, 'eidas_assertion', (location) => location.startsWith(REDIRECT));
  const location = back.headers.Location || '';
  const code = (location.match(/[?&]code=([^&]+)/) || [])[1];
  const returned = (location.match(/[?&]state=([^&]+)/) || [])[1];
  if (!check(back, { 'eidas: a code comes back': () => location.startsWith(REDIRECT) && code && returned === state })) {
    console.error(`${username}: no code: ${back.status} ${location || String(back.body).slice(0, 200)}`);
    return null;
  }
  const tokens = http.post(`${CITIZENS}/protocol/openid-connect/token`, {
    grant_type: 'authorization_code', client_id: CLIENT, code: decodeURIComponent(code), redirect_uri: REDIRECT,
    code_verifier: verifier,
  }, { tags: { name: 'eidas_token' }, jar: new http.CookieJar() });
  if (!check(tokens, { 'eidas: the code gives a token': (r) => r.status === 200 })) return null;
  const token = tokens.json('access_token');
  signins.add(1);
  signinTime.add(Date.now() - started);
  return { token, expires: claims(token).exp * 1000, username };
}

// ---------------------------------------------------------------------------------------------------------------

function page(lang, pageNo, q) {
  const query = { lang, page: pageNo, size: PAGE_SIZE };
  if (q) query.q = q;
  return `${BASE}/api/public/eugo/procedures?${qs(query)}`;
}

// words of the catalogue's own titles, each found by the search it will be used in
function searchWords(lang, titles) {
  const seen = new Set();
  for (const title of titles) {
    for (const word of title.split(/[\s,.;:()«»"'/–—-]+/)) {
      if (word.length >= 5 && !/\d/.test(word)) seen.add(word.toLowerCase());
    }
  }
  const words = [];
  for (const word of seen) {
    if (words.length >= 8) break;
    const r = http.get(`${BASE}/api/public/eugo/procedures?${qs({ q: word, lang, size: 5 })}`);
    if (r.status === 200 && r.json('total') > 0) words.push(word);
  }
  return words;
}

// the form data a citizen types into the procedure's form (GET …/form: its Form.io definition), field by field
function fieldValue(c) {
  switch (c.type) {
    case 'number': return Math.max(1, Number((c.validate && c.validate.min) || 1));
    case 'checkbox': return true;
    case 'email': return 'citizen@example.eu';
    case 'radio':
    case 'select': return c.values && c.values.length ? c.values[0].value : undefined;
    case 'textfield':
    case 'textarea': return 'Work in Greece';
    default: return undefined;
  }
}

function formData(form) {
  const components = form && form.definition && form.definition.components;
  if (!components) return { purpose: 'Work in Greece', copies: 1 }; // the seed's `generic-request` form
  const data = {};
  for (const c of components) {
    const value = c.key && c.input !== false ? fieldValue(c) : undefined;
    if (value !== undefined) data[c.key] = value;
  }
  return data;
}

function required(detail) {
  return (detail.evidence || []).filter((e) => !e.alternative).map((e) => e.id);
}

// once per run: the catalogue (its procedures, what each asks for), search words from its titles, whether the form
// endpoint answers, and one sign-in, so that a stack without the load citizens fails here and says so
export function setup() {
  const first = http.get(`${BASE}/api/public/eugo/procedures?lang=en&size=100`);
  if (first.status !== 200 || first.json('total') === 0) fail(`no EUGO procedure: ${first.status} ${first.body}`);
  const greek = http.get(`${BASE}/api/public/eugo/procedures?lang=el&size=100`);
  if (greek.status !== 200) fail(`the Greek catalogue: ${greek.status} ${greek.body}`);
  const procedures = first.json('items').map((p) => {
    const d = http.get(`${BASE}/api/public/eugo/procedures/${p.id}?lang=en`);
    if (d.status !== 200) fail(`procedure ${p.id}: ${d.status} ${d.body}`);
    return { id: p.id, evidence: required(d.json()) };
  });
  let formEndpoint = FORM !== 'skip';
  if (FORM === 'auto') {
    const r = http.get(`${BASE}/api/public/eugo/procedures/${procedures[0].id}/form?lang=en`);
    formEndpoint = r.status === 200;
    if (!formEndpoint) console.warn(`FORM=auto: the form endpoint answered ${r.status}: its 404s are tolerated`);
  }
  const words = {
    en: searchWords('en', first.json('items').map((p) => p.title)),
    el: searchWords('el', greek.json('items').map((p) => p.title)),
  };
  if (words.en.length === 0 || words.el.length === 0) {
    fail(`no search word finds a procedure: ${JSON.stringify(words)}`);
  }
  console.log(`${procedures.length} EUGO procedures; search words ${JSON.stringify(words)}`);
  if (signIn(citizen(1)) === null) {
    fail('load-001 cannot sign in at the eIDAS node double: regenerate its realm (python -m kepctl.eidas_realms) '
      + 'and run `./dev kep services start`');
  }
  return { procedures, words, formEndpoint, total: first.json('total') };
}

function citizen(vu) {
  return `load-${String(((vu - 1) % LOAD_CITIZENS) + 1).padStart(3, '0')}`;
}

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

let session = null; // this VU's citizen: {token, expires, username}

function signedIn() {
  if (session === null || session.expires - Date.now() < REFRESH_S * 1000) session = signIn(citizen(__VU));
  return session;
}

export default function (data) {
  const lang = Math.random() < 0.5 ? 'en' : 'el';

  // browse: a page of the catalogue, then the same page again as a browser revalidates it
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  const url = page(lang, 1 + Math.floor(Math.random() * pages));
  const listed = http.get(url, { tags: { name: 'list' } });
  check(listed, { 'list 200 with an ETag': (r) => r.status === 200 && !!r.headers.Etag });
  if (listed.status === 200 && listed.headers.Etag) {
    const again = http.get(url, { headers: { 'If-None-Match': listed.headers.Etag }, tags: { name: 'revalidate' } });
    check(again, { 'revalidated 304': (r) => r.status === 304 && !r.body });
  }
  const procedure = pick(data.procedures);
  const shown = http.get(`${BASE}/api/public/eugo/procedures/${procedure.id}?lang=${lang}`,
    { tags: { name: 'detail' } });
  check(shown, { 'detail 200': (r) => r.status === 200 && r.json('id') === procedure.id });
  if (Math.random() < 0.3) {
    const ld = http.get(`${BASE}/api/public/eugo/procedures/${procedure.id}.jsonld`, { tags: { name: 'jsonld' } });
    check(ld, { 'jsonld 200': (r) => r.status === 200 && r.json()['@type'] !== undefined });
  }
  let definition = null;
  if (FORM !== 'skip') {
    // (a responseCallback given as undefined would keep the request out of http_req_failed: none unless needed)
    const params = { tags: { name: 'form' } };
    if (!data.formEndpoint) params.responseCallback = FORM_OR_MISSING;
    const f = http.get(`${BASE}/api/public/eugo/procedures/${procedure.id}/form?lang=en`, params);
    if (f.status === 404 && !data.formEndpoint) formMissing.add(1);
    else if (check(f, { 'form 200': (r) => r.status === 200 })) definition = f.json();
  }

  // search: a word of a title, in the language of the visit
  const word = pick(data.words[lang]);
  const found = http.get(page(lang, 1, word), { tags: { name: 'search' } });
  check(found, { 'search finds': (r) => r.status === 200 && r.json('total') > 0 });

  if (Math.random() >= APPLY) return;

  // sign in (once per VU, again near the token's expiry), apply with the evidence the procedure asks for
  const me = signedIn();
  if (me === null) return;
  const auth = { Authorization: `Bearer ${me.token}` };
  const evidence = shown.status === 200 ? required(shown.json()) : procedure.evidence;
  const parts = {
    application: JSON.stringify({
      procedure_id: procedure.id, form_data: formData(definition), email: `${me.username}@example.eu`,
    }),
  };
  // a file part per required evidence, named by its id in the catalogue (`evidence-1`, …)
  for (const id of evidence) {
    const part = id.startsWith('evidence-') ? id : `evidence-${id}`;
    parts[part] = http.file(PDF, `${part}.pdf`, 'application/pdf');
  }
  const applied = http.post(`${BASE}/api/eugo/applications`, parts, {
    headers: { ...auth, 'Idempotency-Key': `k6-${me.username}-${b64encode(randomBytes(12), 'rawurl')}` },
    tags: { name: 'apply' }, responseCallback: ROUTED_OR_KEPT,
  });
  if (applied.status === 202) unrouted.add(1);
  if (!check(applied, { 'applied 201 routed': (r) => r.status === 201 && r.json('status') === 'routed' })) {
    if (applied.status !== 202) console.error(`apply: ${applied.status} ${String(applied.body).slice(0, 300)}`);
    return;
  }
  const id = applied.json('id');

  // follow: my applications, the one just made, a message to the office, read back
  const mine = http.get(`${BASE}/api/eugo/applications`, { headers: auth, tags: { name: 'mine' } });
  check(mine, { 'mine lists it': (r) => r.status === 200 && r.json().some((a) => a.id === id) });
  const detail = http.get(`${BASE}/api/eugo/applications/${id}`, { headers: auth, tags: { name: 'application' } });
  check(detail, {
    'application with its evidence': (r) => r.status === 200 && r.json('evidence').length === evidence.length,
  });
  const text = `When will it be ready? (${me.username}, visit ${__ITER})`;
  const wrote = http.post(`${BASE}/api/eugo/applications/${id}/messages`, JSON.stringify({ text }),
    { headers: { ...auth, 'Content-Type': 'application/json' }, tags: { name: 'message' } });
  check(wrote, { 'message 201': (r) => r.status === 201 });
  const reread = http.get(`${BASE}/api/eugo/applications/${id}`, { headers: auth, tags: { name: 'reread' } });
  check(reread, { 'message read back': (r) => r.status === 200 && r.json('messages').some((x) => x.text === text) });
}
