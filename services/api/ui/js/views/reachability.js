// Whether providers on the internet can reach the capture URLs. A laptop's
// `http://127.0.0.1:8080/h/…` pasted into a provider's dashboard never receives anything, and
// nothing on the provider's side says why; the note says so where the URL is handed out, with
// the two setups that work (the API's `advice`) and the way to see a provider's events now.
//
// It is information, not a failure: captures sent from this machine (curl, the CLI, test events)
// work, so the note uses the neutral info colours, never the error ones.

import { h, mount, copyButton, prose } from '../dom.js';
import { sentence } from '../format.js';

// Words between commands that only join them ("`a` and `b`."): the commands, one a row, say it.
const JOINER = /^[\s.,;:]*(and|or|then)?[\s.,;:]*$/i;

/**
 * An advice sentence as its words, then each `command` on a row of its own with a button that
 * copies it. Words between commands are kept in the sentence unless they only join them.
 */
function adviceItem(text) {
  const parts = sentence(text).split('`');
  const commands = parts.filter((_, i) => i % 2);
  const between = parts.filter((p, i) => i % 2 === 0 && i > 0);
  const words = between.every((p) => JOINER.test(p)) ? parts[0].trim() : null;
  return [
    h('span', { class: 'reach-words' }, words ?? prose(sentence(text))),
    commands.map((c) => h('span', { class: 'reach-cmd' }, h('code', null, c), copyButton('Copy', c, { name: `Copy command: ${c}` }))),
  ];
}

/**
 * The note, empty and hidden until the API says the URLs are not reachable; it stays hidden
 * when they are, or when the question cannot be answered (the page works the same without it).
 * `meanwhile`: what to do until then, as nodes (a pointer to "Send a test event").
 * `compact`: folded into a one-line disclosure, for places the URL is shown on every visit.
 */
export function reachabilityNote(state, { meanwhile = null, compact = false } = {}) {
  const el = h(compact ? 'details' : 'div', { class: ['reach-note', compact && 'compact'], hidden: true, role: compact ? null : 'note', 'aria-label': compact ? null : 'Who can reach the capture URL' });
  state.loadReachability().then((r) => {
    if (r.reachable) return;
    const headline = 'Providers on the internet cannot reach this URL.';
    const body = [
      h('p', { class: 'reach-reason' }, prose(sentence(r.reason || `${r.captureBaseUrl} is not a public address`))),
      h('p', null, 'To receive a provider’s webhooks:'),
      h('ol', { class: 'reach-advice' }, r.advice.map((a) => h('li', null, adviceItem(a)))),
      meanwhile ? h('p', { class: 'reach-meanwhile' }, meanwhile) : null,
    ];
    if (compact) mount(el, h('summary', null, headline), body);
    else mount(el, h('p', { class: 'reach-title' }, h('strong', null, headline)), body);
    el.hidden = false;
  }).catch(() => {});
  return el;
}
