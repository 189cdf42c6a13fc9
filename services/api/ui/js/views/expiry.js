// An endpoint's time to live in the headers and the switcher: "expires in 25 min", then
// "expired" once past (the expiry job deletes it within its interval; until then it is listed).

import { h } from '../dom.js';
import { formatTime, inWords } from '../format.js';

/** "expires in 25 min" / "expired"; null when the endpoint does not expire. */
export function expiryWords(expiresAt) {
  if (!expiresAt) return null;
  const left = inWords(expiresAt);
  return left ? `expires ${left}` : 'expired';
}

/**
 * A tag that keeps its words current while it is on the page: the next tick after the element
 * leaves the page stops its timer.
 */
export function expiryTag(expiresAt) {
  if (!expiresAt) return null;
  const tag = h('span', { class: 'tag expiry-tag', title: `Expires ${formatTime(expiresAt, { ms: false })}: the endpoint and its captures are deleted then` });
  const tick = () => {
    const words = expiryWords(expiresAt);
    tag.textContent = words;
    tag.classList.toggle('expired', words === 'expired');
  };
  tick();
  const timer = setInterval(() => {
    if (!tag.isConnected && tag.dataset.shown) clearInterval(timer);
    else {
      if (tag.isConnected) tag.dataset.shown = '1';
      tick();
    }
  }, 15_000);
  return tag;
}
