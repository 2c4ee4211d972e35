// An employee's day under load: open a case, view it, work on it (start, suspend, resume), search the office's
// list. Tokens come from the local Keycloak (password grant of the demo users), procedures from the catalogue.
//
//   ./dev up && ./dev k6                   (k6 is built from its Go module the first time; args go to `k6 run`)
//   VUS=16 HOLD=60s ./dev k6               (BASE_URL / OIDC_ISSUER aim it elsewhere)
//   SCENARIO=rate RATE=8 DURATION=60s ./dev k6    fixed arrival rate (iterations/s; dropped_iterations if it lags)
//   SCENARIO=vus VUS=16 DURATION=60s ./dev k6     closed loop, VUS from the first second to the last
//
// Thresholds fail the run (k6 exits 99) when the system is broken or slower than them. bench/stack_cpu.py runs the
// two SCENARIO modes and reads --summary-export.
import http from 'k6/http';
import { check, fail } from 'k6';
import { Counter } from 'k6/metrics';

// 409s the employee met because the process had changed the case first (answered by reading it again)
const conflicts = new Counter('conflicts');
// where each action may start from, and where it leads (actors/cases/lifecycle.py)
const FROM = { start: ['submitted'], suspend: ['submitted', 'in_progress'], resume: ['suspended'] };
const TO = { start: 'in_progress', suspend: 'suspended' };
const STALE_IS_AN_ANSWER = http.expectedStatuses(200, 409);

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const ISSUER = __ENV.OIDC_ISSUER || 'http://127.0.0.1:18180/realms/kep';
const PASSWORD = __ENV.DEMO_PASSWORD || 'kep-demo'; // the development realm's demo password
const SCENARIO = __ENV.SCENARIO || 'ramp';
const NAMES = ['open', 'view', 'update', 'search', 'reread'];

function scenario() {
  const duration = __ENV.DURATION || '60s';
  if (SCENARIO === 'ramp') {
    const vus = Number(__ENV.VUS || 8);
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
    const rate = Number(__ENV.RATE || 8);
    return {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration,
      // an iteration takes ~6 requests; VUs beyond these mean the system lags (k6 counts dropped_iterations)
      preAllocatedVUs: Number(__ENV.PREALLOCATED_VUS || Math.max(8, 2 * rate)),
      maxVUs: Number(__ENV.MAX_VUS || Math.max(32, 8 * rate)),
      gracefulStop: '10s',
    };
  }
  if (SCENARIO === 'vus') {
    return { executor: 'constant-vus', vus: Number(__ENV.VUS || 16), duration, gracefulStop: '10s' };
  }
  throw new Error(`SCENARIO must be ramp, rate or vus, not ${SCENARIO}`);
}

const thresholds = {
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
  'http_req_duration{name:open}': ['p(95)<800'],
  'http_req_duration{name:view}': ['p(95)<300'],
  'http_req_duration{name:update}': ['p(95)<800'],
  'http_req_duration{name:search}': ['p(95)<500'],
};
if (SCENARIO !== 'ramp') {
  // thresholds that always pass, so that --summary-export carries counts and failures per request name
  for (const name of NAMES) {
    thresholds[`http_reqs{name:${name}}`] = ['count>=0'];
    thresholds[`http_req_failed{name:${name}}`] = ['rate>=0'];
  }
}

export const options = {
  scenarios: { employees: scenario() },
  thresholds,
  // k6's default stats plus p(99)
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

function token(username) {
  const r = http.post(`${ISSUER}/protocol/openid-connect/token`, {
    grant_type: 'password', client_id: 'kep-cli', username, password: PASSWORD,
  }, { tags: { name: 'login' } });
  if (r.status !== 200) fail(`login of ${username} failed: ${r.status} ${r.body}`);
  return r.json('access_token');
}

// once per run: the tokens (they live five minutes, longer than a run) and the procedures open to cases
export function setup() {
  const admin = { Authorization: `Bearer ${token('admin')}` };
  const page = http.get(`${BASE}/api/admin/procedures?active=true&size=20`, { headers: admin });
  if (page.status !== 200 || page.json('total') === 0) fail(`no active procedure: ${page.status} ${page.body}`);
  const data = {
    token: token(__ENV.EMPLOYEE || 'giorgos.nikolaou'),
    procedures: page.json('items').map((p) => p.id),
  };
  // bench/stack_cpu.py starts its CPU window here, after the logins (Keycloak's password hashing is not the load)
  if (__ENV.BENCH_MARK) console.log(__ENV.BENCH_MARK);
  return data;
}

// a valid ΑΦΜ: eight digits and their check digit
function afm() {
  const digits = Array.from({ length: 8 }, () => Math.floor(Math.random() * 10));
  const sum = digits.reduce((acc, d, i) => acc + d * 2 ** (8 - i), 0);
  return digits.join('') + String((sum % 11) % 10);
}

// one action on the case as it stands; on a 409 the case is read again: the action is done once more with the new
// version if it still applies, skipped if the case is already where it leads; null when it fails
function act(id, action, extra, current, headers) {
  // 409 is an answer of optimistic concurrency, not a failure of the system: counted apart, in `conflicts`
  const send = (version) => http.post(`${BASE}/api/cases/${id}/${action}`, JSON.stringify({ version, ...extra }),
    { headers, tags: { name: 'update' }, responseCallback: STALE_IS_AN_ANSWER });
  let r = send(current.version);
  if (r.status === 409) {
    conflicts.add(1);
    const again = http.get(`${BASE}/api/cases/${id}`, { headers, tags: { name: 'reread' } });
    if (again.status !== 200) return null;
    const now = again.json();
    if (TO[action] === now.status) return now;
    if (!FROM[action].includes(now.status)) return now; // the process moved it on: nothing left to do here
    r = send(now.version);
  }
  return r.status === 200 ? r.json() : null;
}

const SURNAMES = ['Παπαδάκη', 'Οικονόμου', 'Ιωάννου', 'Γεωργίου', 'Νικολάου'];

export default function (data) {
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${data.token}` };
  const surname = SURNAMES[Math.floor(Math.random() * SURNAMES.length)];
  const body = JSON.stringify({
    procedure_id: data.procedures[Math.floor(Math.random() * data.procedures.length)],
    citizen: { afm: afm(), first_name: 'Ελένη', last_name: surname },
    form_data: { purpose: 'Υποβολή σε τράπεζα', copies: 1 }, // the demo procedures' form (kepctl/seed.py)
  });
  const opened = http.post(`${BASE}/api/cases`, body, { headers, tags: { name: 'open' } });
  if (!check(opened, { 'opened 201': (r) => r.status === 201 })) return;
  const id = opened.json('id');

  const viewed = http.get(`${BASE}/api/cases/${id}`, { headers, tags: { name: 'view' } });
  if (!check(viewed, { 'viewed 200': (r) => r.status === 200 })) return;

  // the process works on the case meanwhile (its intake suspends a case whose documents are missing): a 409 is
  // answered as the web app does, by reading the case again and going on from where it is
  let current = viewed.json();
  for (const [action, extra] of [['start', {}], ['suspend', { reason: 'λείπει δικαιολογητικό' }], ['resume', {}]]) {
    const r = act(id, action, extra, current, headers);
    if (!check(r, { [`${action} done`]: (res) => res !== null })) return;
    current = r;
  }

  const found = http.get(`${BASE}/api/cases?q=${encodeURIComponent(surname.toLowerCase())}&limit=25`,
    { headers, tags: { name: 'search' } });
  check(found, { 'search 200': (r) => r.status === 200 && r.json('items').length > 0 });
}
