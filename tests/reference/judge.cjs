// The reference engines, for the differential tests: one JSON request per line on stdin, one answer per line.
//   {"formio": {"components": [...], "data": {...}}} -> {"errors": [{"path", "rule"}], "data": {...}}
//     as Form.io's server judges a submission (formio's Validator: the `submission` processors, then the
//     `evaluator` ones, on one data object, with `config.server`), or {"thrown": "..."} where processing throws
//   {"logic": <rule>, "data": {...}} -> {"value": <result>} or {"error": "..."} (json-logic-js throwing)
// Numbers JSON cannot carry (NaN, ±Infinity) come back as {"number": "NaN"}.
'use strict';
const readline = require('node:readline');
const jsonLogic = require('json-logic-js');
const { process: processForm, ProcessTargets } = require('@formio/core');
// Form.io's date operators hand any string to moment, which warns on stderr when it falls back to Date()
require('moment').suppressDeprecationWarnings = true;
// stdout carries the answers; what the engines print for people (e.g. "Validator error: ...") goes nowhere
for (const name of ['log', 'info', 'warn', 'error', 'debug']) console[name] = () => {};

async function judge({ components, data }) {
  const form = { components };
  const submission = { data };
  const base = { form, submission, components, config: { server: true } };
  // process() replaces context.data with what its `filter` kept: the evaluator pass works on that
  const first = { ...base, data: submission.data, scope: {}, processors: ProcessTargets.submission };
  await processForm(first);
  submission.data = first.data;
  const second = { ...base, data: submission.data, scope: {}, processors: ProcessTargets.evaluator };
  await processForm(second);
  const errors = (second.scope.errors || []).map((e) => ({ path: e.context.path, rule: e.ruleName }));
  return { errors, data: second.data };
}

function plain(value) {
  return JSON.parse(JSON.stringify(value, (key, v) =>
    typeof v === 'number' && !Number.isFinite(v) ? { number: String(v) } : v));
}

async function answer(request) {
  if (request.formio) {
    try {
      return plain(await judge(request.formio));
    } catch (e) {
      return { thrown: String(e) }; // Form.io's server would answer with an error, not a verdict
    }
  }
  try {
    return { value: plain([jsonLogic.apply(request.logic, request.data)])[0] };
  } catch (e) {
    return { error: String(e) };
  }
}

(async () => {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    let out;
    try {
      out = await answer(JSON.parse(line));
    } catch (e) {
      out = { crash: String((e && e.stack) || e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
})();
