// The vertical slice under load: open a case, read it back. Thresholds fail the run, not the figures.
//   TOKEN=$(./dev kep token maria.papadopoulou) PROCEDURE_ID=<uuid> k6 run k6/cases_slice.js
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const HEADERS = {
  'Content-Type': 'application/json',
  Authorization: `Bearer ${__ENV.TOKEN}`,
};

export const options = {
  scenarios: {
    open_and_read: {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: '10s', target: 8 },
        { duration: '20s', target: 8 },
        { duration: '5s', target: 0 },
      ],
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:open}': ['p(95)<500'],
    'http_req_duration{name:read}': ['p(95)<200'],
  },
};

export default function () {
  const body = JSON.stringify({
    procedure_id: __ENV.PROCEDURE_ID,
    citizen: { afm: '090000045', first_name: 'Ελένη', last_name: 'Παπαδάκη' },
  });
  const opened = http.post(`${BASE}/api/cases`, body, { headers: HEADERS, tags: { name: 'open' } });
  check(opened, { 'opened 201': (r) => r.status === 201 });
  if (opened.status !== 201) return;
  const read = http.get(`${BASE}/api/cases/${opened.json('id')}`, { headers: HEADERS, tags: { name: 'read' } });
  check(read, { 'read 200': (r) => r.status === 200 });
}
