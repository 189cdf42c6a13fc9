// What a capture URL answered each capture (`Capture.answer`), in the words the list badge and
// the capture's Answer line share. A plain 200 is the normal case and gets no badge, so the
// failures a scenario chose stand out in a provider's retry pattern.

import { h } from '../dom.js';

/** "rule flaky, step 3", "rule chaos", or the endpoint's own answer when no rule chose it. */
export function ruleWords(a) {
  if (!a.ruleId) return a.status === 200 && !a.timedOut ? 'default answer' : 'custom response';
  return a.step != null ? `rule ${a.ruleId}, step ${a.step}` : `rule ${a.ruleId}`;
}

/** `s-4xx`-style class: 4xx amber, 5xx and timeouts red, the rest neutral. */
function tone(a) {
  if (a.timedOut || a.status >= 500) return 'a-bad';
  if (a.status >= 400) return 'a-warn';
  return 'a-other';
}

/** The list's badge: the status (or `timeout`) when it is not a plain 200; else nothing. */
export function answerBadge(a) {
  if (!a || (a.status === 200 && !a.timedOut)) return null;
  const text = a.timedOut ? 'timeout' : String(a.status);
  const what = a.timedOut ? 'a simulated timeout (held 30 s, then 504)' : String(a.status);
  return h('span', {
    class: ['ans-badge', tone(a)],
    title: `Answered ${what}: ${ruleWords(a)}`,
    dataset: { status: a.status, rule: a.ruleId ?? '' },
  }, h('span', { class: 'visually-hidden' }, 'answered '), text);
}

/** Seconds or milliseconds, as a person reads a delay. */
function delayWords(ms) {
  if (ms === 0) return 'answered at once';
  if (ms < 1000) return `held ${ms} ms`;
  return `held ${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}

/** The capture's Answer line: "500 · answered at once · rule fail-twice, step 1". */
export function answerLine(a) {
  if (!a) return null;
  const what = a.timedOut ? 'simulated timeout (held 30 s, then 504)' : `${a.status} · ${delayWords(a.delayMs)}`;
  return h('p', { class: ['answer-line', tone(a)] },
    h('span', { class: 'answer-label' }, 'Answer'), ' ',
    h('span', { class: 'answer-text' }, `${what} · ${ruleWords(a)}`));
}
