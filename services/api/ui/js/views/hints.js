// Getting a provider to send to the capture URL: a ready-made curl command and where the URL
// (and the signing secret) go in Stripe, GitHub, Shopify, Slack and others.

import { h, copyButton, details } from '../dom.js';
import { href } from '../router.js';

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

export function curlExample(url) {
  return `curl -X POST ${shellQuote(`${url}/test?source=curl`)} \\\n  -H 'content-type: application/json' \\\n  --data-binary '{"hello":"world"}'`;
}

const PROVIDERS = [
  {
    name: 'Stripe',
    provider: 'stripe',
    steps: [
      'Dashboard → Developers → Webhooks → Add endpoint (or “Add destination”).',
      'Paste the capture URL as the endpoint URL and pick the events.',
      'Reveal the endpoint’s signing secret (whsec_…) and set it here: Settings → Signature verification, provider Stripe.',
      'Test it with the Stripe CLI: stripe trigger payment_intent.succeeded.',
    ],
  },
  {
    name: 'GitHub',
    provider: 'github',
    steps: [
      'Repository or organisation → Settings → Webhooks → Add webhook.',
      'Payload URL: the capture URL. Content type: application/json.',
      'Secret: any random string; set the same one here with provider GitHub.',
      'GitHub sends a ping event at once; it shows up in the list.',
    ],
  },
  {
    name: 'Shopify',
    provider: 'shopify',
    steps: [
      'Admin → Settings → Notifications → Webhooks → Create webhook (for an app: the app’s webhook subscriptions).',
      'URL: the capture URL, format JSON.',
      'The signing key is shown under the webhook list (for apps: the app’s client secret); set it here with provider Shopify.',
    ],
  },
  {
    name: 'Slack',
    provider: 'slack',
    steps: [
      'api.slack.com/apps → your app → Event Subscriptions → Enable Events.',
      'Request URL: the capture URL. Turn on “Answer handshakes” in Settings first: Slack sends a url_verification challenge and expects it back.',
      'Basic Information → Signing Secret: set it here with provider Slack.',
    ],
  },
  {
    name: 'Svix, Clerk, Resend and other Standard Webhooks senders',
    provider: 'standard-webhooks',
    steps: [
      'Add an endpoint with the capture URL in the sender’s dashboard.',
      'Copy its signing secret (whsec_…) and set it here with provider standard-webhooks.',
    ],
  },
  {
    name: 'Anything else',
    provider: 'generic-hmac',
    steps: [
      'Give the sender the capture URL; any method, path suffix, query, headers and body are kept exactly.',
      'For an HMAC signature scheme without a built-in provider, use generic-hmac and describe the header, algorithm and what is signed.',
    ],
  },
];

export function providerHints(url) {
  return h(
    'div',
    { class: 'provider-hints' },
    PROVIDERS.map((p) => details(
      h('span', null, p.name, ' ', h('span', { class: 'hint' }, `(provider id ${p.provider})`)),
      h('ol', null, p.steps.map((s) => h('li', null, s))),
      { class: 'hint-block' },
    )),
    h('p', { class: 'hint' }, 'The capture URL is ', h('code', null, url), '. Everything after it (a path such as /stripe, a query string) is captured too.'),
  );
}

/**
 * What an empty endpoint shows: its URL, a curl command to try it, a test event, and provider
 * hints. `testEvent` opens the "Send a test event" dialog; null for a viewer, who cannot send one.
 */
export function gettingStarted(ep, { testEvent = null } = {}) {
  const cmd = curlExample(ep.url);
  return h(
    'div',
    { class: 'getting-started' },
    h('h2', null, 'Waiting for the first webhook'),
    h('p', null, 'Send anything to the capture URL; it appears here at once.'),
    h('pre', { class: 'code curl-example' }, cmd),
    copyButton('Copy curl command', cmd),
    h('h3', null, 'See a provider’s event now'),
    testEvent
      ? h('p', null, 'A realistic Stripe, GitHub, Shopify or Slack event (and more), signed with this endpoint’s secret: ',
        h('button', { type: 'button', class: 'btn small test-event-btn', 'aria-haspopup': 'dialog', onclick: testEvent }, 'Send a test event…'))
      : h('p', { class: 'hint' }, 'Sending a test event needs the editor role in this team.'),
    h('h3', null, 'Point a provider at it'),
    providerHints(ep.url),
    h('p', null, h('a', { href: href('e', ep.id, 'settings') }, 'Set up signature verification'), ' to know whether each request is authentic.'),
  );
}
