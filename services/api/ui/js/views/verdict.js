// Signature verdicts in words: the one vocabulary the list badge, the capture panel, the filters
// and the re-check summary share (the CLI and docs/verification.md use the same words), and the
// advice that follows a verdict, chosen by what its reason says.

import { h, prose, timeEl } from '../dom.js';
import { href } from '../router.js';
import { sentence } from '../format.js';

/** Verdict → its words, in the order filters offer them. Lower case; `capitalized` starts a heading. */
export const VERDICTS = [
  ['VALID', 'valid'],
  ['INVALID_SIGNATURE', 'invalid signature'],
  ['MISSING_SIGNATURE', 'missing signature'],
  ['TIMESTAMP_OUT_OF_TOLERANCE', 'outside tolerance'],
  ['MALFORMED', 'malformed'],
  ['NOT_CONFIGURED', 'not checked'],
];
const WORDS = Object.fromEntries(VERDICTS);

/** The words for `verdict`; an unknown one (a newer server) as it is sent, lower case. */
export function verdictWords(verdict) {
  return WORDS[verdict] || String(verdict).toLowerCase().replace(/_/g, ' ');
}

export function capitalized(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/** The verdict as a badge; never colour alone: the text says it. */
export function verdictBadge(v) {
  if (!v) return h('span', { class: 'badge v-pending', title: 'The signature has not been checked yet' }, 'checking');
  const words = verdictWords(v.verdict);
  return h('span', {
    class: `badge v-${v.verdict.toLowerCase().replace(/_/g, '-')}`,
    title: `Signature: ${words}${v.provider ? ` (${v.provider})` : ''}`,
    dataset: { verdict: v.verdict },
  }, words);
}

/**
 * What to do about a verdict, read from its reason (services/lib/verify: engine.rs and
 * explain.rs write them). The reason is more specific than the verdict: an INVALID_SIGNATURE whose
 * reason found a re-serialised body had the right secret, so advice chosen by the verdict alone
 * ("check the secret") would send the reader the wrong way. Returns `{ kind, text }` or null;
 * `text` may hold `code` spans.
 */
export function adviceFor(v) {
  if (!v) return null;
  const r = v.reason || '';
  if (v.verdict === 'VALID') {
    return /\(rotated\)/.test(r)
      ? { kind: 'rotated', text: 'It matched an older secret, still accepted while rotating. Once the provider signs with the current one, remove the old secret in Settings.' }
      : null;
  }
  if (/if the body were re-serialized JSON/.test(r)) {
    return { kind: 're-serialized', text: 'The secret is right: your framework (or a proxy) parsed the JSON and encoded it again, so the bytes checked are not the bytes signed. Verify the raw request body as received, before any JSON parsing.' };
  }
  if (/would match .*if the body were/.test(r)) {
    return { kind: 'body-changed', text: 'The secret is right but the body was changed on its way here (line breaks added or removed by a proxy or framework). Verify the raw bytes as received.' };
  }
  if (/public URL/.test(r)) {
    return { kind: 'url', text: 'This provider signs the URL it sent to: set the public URL in Settings to that address (the one in the provider’s dashboard).' };
  }
  if (/whitespace around it/.test(r)) {
    return { kind: 'secret-whitespace', text: 'The secret was saved with spaces or a newline around it: set it again without them.' };
  }
  if (/is unusable/.test(r)) {
    return { kind: 'secret-unusable', text: 'A stored secret cannot be used with this provider (wrong format): set it again as the provider shows it.' };
  }
  if (v.verdict === 'TIMESTAMP_OUT_OF_TOLERANCE') {
    return {
      kind: 'timestamp',
      text: /after receipt/.test(r)
        ? 'The secret is right; the sender’s clock is ahead of this server’s. Check the clocks (NTP), or raise the tolerance in Settings.'
        : 'The secret is right; the request was signed too long before it arrived: a retry, a replay of an old request, or a clock that is off. Raise the tolerance in Settings if that is expected.',
    };
  }
  if (v.verdict === 'INVALID_SIGNATURE') {
    // "…; also, it was signed 7m before receipt": the timestamp matters only once a secret matches.
    const late = /; also, it was signed/.test(r) ? ' Its timestamp is outside the tolerance too, so it will fail that check next.' : '';
    return { kind: 'wrong-secret', text: `No configured secret produces this signature: check that Settings → Signature verification has the secret this provider signs with. If the provider rotated it, add the new one.${late}` };
  }
  if (v.verdict === 'MISSING_SIGNATURE') {
    const header = /header `([^`]+)` is missing/.exec(r)?.[1];
    return {
      kind: 'missing-header',
      text: header
        ? `The request has no \`${header}\` header: the provider did not sign it, it came from someone else, or a proxy removed the header.`
        : 'The request carries no signature: the provider did not sign it, it came from someone else, or a proxy removed it.',
    };
  }
  if (v.verdict === 'MALFORMED') {
    return { kind: 'malformed', text: 'The signature is there but cannot be read: a proxy changed it, or the provider configured is not the one sending.' };
  }
  if (v.verdict === 'NOT_CONFIGURED') {
    const guess = /^looks like (.+?) \(/.exec(r)?.[1];
    return { kind: 'not-configured', text: guess ? `Set provider ${guess} and its secret in Settings → Signature verification to check captures like this one.` : 'Set the provider and its secret in Settings → Signature verification to check captures like this one.' };
  }
  return null;
}

export function verificationPanel(v, ep) {
  if (!v) return h('div', { class: 'verification pending' }, h('p', null, verdictBadge(null), ' The processor has not checked this capture yet.'));
  const advice = adviceFor(v);
  return h(
    'div',
    { class: 'verification', dataset: { verdict: v.verdict } },
    h('p', { class: 'verdict-line' }, 'Signature: ', verdictBadge(v)),
    h('dl', { class: 'meta-list' },
      h('dt', null, 'Reason'), h('dd', { class: 'verification-reason' }, prose(sentence(v.reason))),
      h('dt', null, 'Provider'), h('dd', null, v.provider || 'none recognised'),
      h('dt', null, 'Secret that matched'), h('dd', { class: 'secret-label' }, v.secretLabel ? h('code', null, v.secretLabel) : 'none'),
      h('dt', null, 'Checked'), h('dd', null, timeEl(v.verifiedAt))),
    advice ? h('p', { class: 'hint advice', dataset: { advice: advice.kind } }, prose(advice.text), ' ', h('a', { href: `${href('e', ep.id, 'settings')}` }, 'Endpoint settings')) : null,
  );
}
