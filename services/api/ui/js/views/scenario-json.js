// The scenario editor's JSON: the templates, stored rules turned back into the input shape
// `updateEndpoint(scenario:)` takes, compact pretty-printing, and finding the value a refusal
// names in the editor's text. Pure functions, apart from the editor a refusal selects in.

import { ApiError } from '../api.js';

/** Rule lists a click puts in the editor (replacing its text; nothing changes until Save). */
export const TEMPLATES = [
  ['Fail twice then succeed', [{ id: 'fail-twice', answer: { sequence: { steps: [{ status: 500 }, { status: 500 }, { status: 200 }], then: 'STICK' } } }]],
  ['Rate limited', [{ id: 'rate-limited', answer: { fixed: { status: 429, headers: [{ name: 'Retry-After', value: '30' }] } } }]],
  ['Flaky 10 %', [{ id: 'flaky', answer: { mix: { choices: [{ percent: 10, reply: { status: 503 } }], rest: { status: 200 } } } }]],
  ['Gone after 3', [{ id: 'gone-after-3', answer: { goneAfter: { count: 3 } } }]],
];

/**
 * A `Reply` as `ReplyInput`, defaults left out so the editor shows what was chosen; the status
 * always, but for a timeout (answered 504) only when one was set.
 */
function replyInput(r) {
  const out = r.timeout ? { timeout: true } : { status: r.status };
  if (r.timeout && r.status !== 200) out.status = r.status;
  if (r.headers.length) out.headers = r.headers.map((x) => ({ name: x.name, value: x.value }));
  if (r.body) out.body = r.body;
  if (r.delayMs) out.delayMs = r.delayMs;
  return out;
}

function answerInput(a) {
  switch (a.kind) {
    case 'FIXED': return { fixed: replyInput(a.fixed) };
    case 'SEQUENCE': return { sequence: { steps: a.sequence.steps.map(replyInput), then: a.sequence.then } };
    case 'MIX': return { mix: { choices: a.mix.choices.map((c) => ({ percent: c.percent, reply: replyInput(c.reply) })), rest: replyInput(a.mix.rest) } };
    case 'GONE_AFTER': return { goneAfter: { count: a.goneAfter.count, before: replyInput(a.goneAfter.before), after: replyInput(a.goneAfter.after) } };
    case 'LATENCY': return { latency: { reply: replyInput(a.latency.reply), points: a.latency.points.map((p) => ({ percentile: p.percentile, ms: p.ms })) } };
    default: throw new Error(`this page does not know the answer kind ${a.kind}; edit the rules through the API`);
  }
}

/** `Endpoint.scenario` as the `[ScenarioRuleInput]` that would set it again. */
export function scenarioInput(rules) {
  return rules.map((r) => {
    const out = { id: r.id };
    if (r.method) out.method = r.method;
    if (r.pathPrefix) out.pathPrefix = r.pathPrefix;
    if (r.header) out.header = { name: r.header.name, contains: r.header.contains };
    if (r.eventTypes.length) out.eventTypes = r.eventTypes;
    out.answer = answerInput(r.answer);
    return out;
  });
}

/**
 * JSON for the editor: a value that fits on a line stays on one (`{ "status": 500 }`), so a
 * sequence reads as its steps rather than a column of braces.
 */
export function pretty(v, indent = '') {
  const flat = JSON.stringify(v, null, 1).replace(/\n\s*/g, ' ');
  if (v === null || typeof v !== 'object' || flat.length + indent.length <= 76) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + pretty(x, inner)).join(',\n')}\n${indent}]`;
  return `{\n${Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${pretty(x, inner)}`).join(',\n')}\n${indent}}`;
}

/** The editor's text, or an error naming the problem (as the API would, by field). */
export function parseRules(text) {
  let rules;
  try {
    rules = JSON.parse(text.trim() || '[]');
  } catch (e) {
    throw new ApiError(`the rules are not valid JSON: ${e.message}`, { code: 'BAD_USER_INPUT', field: 'scenario' });
  }
  if (!Array.isArray(rules)) throw new ApiError('the rules must be a JSON list: `[{"id": …, "answer": {…}}, …]`', { code: 'BAD_USER_INPUT', field: 'scenario' });
  return rules;
}

/**
 * Where the value at `field` (`scenario[0].answer.sequence.steps[1].status`) is in the editor's
 * text, as `[start, end]`, or null. Only called on text that parsed as JSON; a small scanner
 * because `JSON.parse` keeps no positions.
 */
export function locate(text, field) {
  const keys = [...field.replace(/^scenario/, '').matchAll(/\[(\d+)\]|\.([^.[]+)/g)].map((m) => (m[1] != null ? Number(m[1]) : m[2]));
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i += 1;
  };
  const string = () => {
    const start = i;
    i += 1;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i += 1;
    return JSON.parse(text.slice(start, i));
  };
  const after = () => {
    ws();
    if (text[i] === ',') i += 1;
    ws();
  };
  // The range of the value at keys[depth…] inside the value that starts here; Infinity skips.
  function value(depth) {
    ws();
    const start = i;
    const want = keys[depth];
    let found = null;
    if (text[i] === '{' || text[i] === '[') {
      const close = text[i] === '{' ? '}' : ']';
      i += 1;
      ws();
      for (let n = 0; i < text.length && text[i] !== close; n += 1) {
        let key = n;
        if (close === '}') {
          key = string();
          ws();
          i += 1; // the colon
        }
        const r = value(key === want ? depth + 1 : Infinity);
        if (key === want) found = r;
        after();
      }
      i += 1;
    } else if (text[i] === '"') {
      string();
    } else {
      while (i < text.length && !/[\s,\]}]/.test(text[i])) i += 1;
    }
    return depth === keys.length ? [start, i] : found;
  }
  try {
    return value(0);
  } catch {
    return null;
  }
}

/**
 * The API names the rule's field (`scenario[0].answer.sequence.steps[1].status`); the editor is
 * one field, so the name goes into the message under it, with the line it is on, and the value
 * is selected.
 */
export function namedByField(err, editor) {
  if (!(err instanceof ApiError) || !err.field?.startsWith('scenario')) return err;
  const m = /^invalid `[^`]+`: (.*)$/s.exec(err.message);
  const at = err.field === 'scenario' ? null : locate(editor.value, err.field);
  const line = at ? ` (line ${editor.value.slice(0, at[0]).split('\n').length})` : '';
  if (at) setTimeout(() => editor.setSelectionRange(at[0], at[1]));
  return new ApiError(`\`${err.field}\`${line}: ${m ? m[1] : err.message}`, { code: err.code, field: 'scenario' });
}
