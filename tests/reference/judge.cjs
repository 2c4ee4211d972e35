// The reference engines, for the differential tests: one JSON request per line on stdin, one answer per line.
//   {"formio": {"components": [...], "data": {...}}} -> {"errors": [{"path", "rule"}], "data": {...}}
//     as Form.io's server judges a submission (formio's Validator: the `submission` processors, then the
//     `evaluator` ones, on one data object, with `config.server`)
//   {"logic": <rule>, "data": {...}} -> {"value": <result>} or {"error": "..."} (json-logic-js throwing)
// Numbers JSON cannot carry (NaN, ±Infinity) come back as {"number": "NaN"}.
'use strict';
const readline = require('node:readline');
const jsonLogic = require('json-logic-js');
const { process: processForm, ProcessTargets } = require('@formio/core');

async function judge({ components, data }) {
  const form = { components };
  const submission = { data };
  const context = { form, submission, components, data, scope: {}, config: { server: true } };
  await processForm({ ...context, processors: ProcessTargets.submission });
  const evaluation = { ...context, data: context.data, processors: ProcessTargets.evaluator, scope: {} };
  await processForm(evaluation);
  const errors = (evaluation.scope.errors || []).map((e) => ({ path: e.context.path, rule: e.ruleName }));
  return { errors, data: evaluation.data };
}

function plain(value) {
  return JSON.parse(JSON.stringify(value, (key, v) =>
    typeof v === 'number' && !Number.isFinite(v) ? { number: String(v) } : v));
}

async function answer(request) {
  if (request.formio) return plain(await judge(request.formio));
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
