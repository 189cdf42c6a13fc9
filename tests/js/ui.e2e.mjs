// End-to-end test of the web inspector in headless Chromium, against a running Hookmetry.
//
// usage: node ui.e2e.mjs <base-url> <admin-token>
//   HOOKMETRY_CHROMIUM        the browser (default /usr/bin/chromium)
//   HOOKMETRY_UI_SCREENSHOTS  a directory: save PNGs of the main screens there (docs/ui)
//
// Driven by tests/ui.rs, which starts the server. Webhooks are sent with the real `curl`;
// replays go to a receiver this script runs on 127.0.0.1. Exit 0 when every step passed.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  assert, assertEq, launch, watchPage, sendWebhook, stripeSignature, sha256Hex, startReceiver,
  axeScan, screenshot, stepper,
} from './ui/support.mjs';
import { CAPTURES } from '../../services/api/ui/js/queries.js';

const [base, adminToken] = process.argv.slice(2);
if (!base || !adminToken) {
  console.error('usage: node ui.e2e.mjs <base-url> <admin-token>');
  process.exit(2);
}

const SECRET = 'whsec_e2e_0123456789abcdef';
const LIVE_WITHIN_MS = 1000;
const BULK = Number(process.env.HOOKMETRY_UI_BULK || 10_000);
// 0x00 and 0xff among printable and control bytes: the hex view must show each exactly.
const BINARY = Buffer.from([0x00, 0xff, 0x01, 0x7f, 0x80, 0x41, 0x42, 0x0a, 0x0d, 0x00, 0xfe, 0x20, 0x7e, 0xff, 0x00, 0x10, 0x48, 0x4d]);
const BINARY_HEX = [
  '00000000  00 ff 01 7f 80 41 42 0a  0d 00 fe 20 7e ff 00 10  |.....AB.... ~...|',
  '00000010  48 4d                                             |HM|',
].join('\n');

const { step, done } = stepper();
const browser = await launch();
// A zone with a half-hour offset, so a time shown in UTC (or without its zone) cannot pass.
const ZONE = { id: 'Asia/Kolkata', label: 'UTC+05:30', minutes: 330 };
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, timezoneId: ZONE.id });
// Test-only instrumentation (not subject to the page's CSP): keep every WebSocket the page opens.
await context.addInitScript(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
});
const page = await context.newPage();
page.setDefaultTimeout(10_000);
const watch = watchPage(page);
const receiver = await startReceiver();
let epUrl = null;
let epId = null;
// The endpoint with response rules (the Responses steps), seen again by the viewer.
let sc = null;
const ids = {};

const rowFor = (id) => page.locator(`.vl-row[data-id="${id}"]`);

/** GraphQL as the admin, outside the page: what another tab or a teammate would do. */
async function adminGql(query, variables) {
  const r = await fetch(`${base}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const j = await r.json();
  assert(!j.errors, JSON.stringify(j.errors));
  return j.data;
}

/** Sends with curl and waits for the row to appear in the open list; returns [id, ms]. */
async function sendAndSee(path, opts) {
  const t0 = Date.now();
  const id = await sendWebhook(`${epUrl}${path}`, opts);
  await rowFor(id).waitFor({ state: 'visible', timeout: 10_000 });
  return [id, Date.now() - t0];
}

async function openCapture(id) {
  await rowFor(id).click();
  await page.waitForFunction((cid) => location.hash.includes(`/c/${cid}`), id);
  await page.locator('.capture-head h2').waitFor();
}

/** `iso` as the page must show it in ZONE: "2026-12-05 19:33:07.123 UTC+05:30". */
function localTime(iso, ms) {
  const d = new Date(new Date(iso).getTime() + ZONE.minutes * 60_000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, ms ? 23 : 19)} ${ZONE.label}`;
}

/** Every <time> inside `selector`: its text is the date, time and zone of its ISO title. */
async function assertTimes(selector, what) {
  const times = await page.locator(`${selector} time`).evaluateAll((ts) => ts.map((t) => ({ text: t.textContent, title: t.title, datetime: t.dateTime })));
  assert(times.length > 0, `${what}: no <time> element`);
  for (const t of times) {
    assert(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(t.title) && t.title === t.datetime, `${what}: the title is the full ISO time: ${JSON.stringify(t)}`);
    const ms = /\.\d{3} /.test(t.text);
    assertEq(t.text, localTime(t.title, ms), `${what}: a time shows its date and zone`);
  }
  return times.length;
}

async function waitLive() {
  await page.locator('.live-badge[data-state="live"]').waitFor();
  // The subscription is sent right after connection_ack; give the server a moment to register it.
  await page.waitForTimeout(300);
}

try {
  await step('sign-in screen, and a bad token is refused with a sentence next to the field', async () => {
    watch.expect(/status of 401/);
    await page.goto(base);
    await page.getByRole('heading', { name: 'Sign in to Hookmetry' }).waitFor();
    await screenshot(page, 'sign-in');
    await axeScan(page, 'sign-in');
    await page.getByLabel('API token').fill('hm_not_a_real_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.locator('.field-error:not([hidden])');
    await error.waitFor();
    assertEq(await error.textContent(), 'That token was not accepted: it is unknown or has been revoked. Check that you copied all of it.', 'error under the token field');
    assertEq(await page.getByLabel('API token').getAttribute('aria-invalid'), 'true', 'token field marked invalid');
    const describedBy = await page.getByLabel('API token').getAttribute('aria-describedby');
    assert(describedBy.includes(await error.getAttribute('id')), 'the error is announced with the field (aria-describedby)');
    assertEq(await page.evaluate(() => sessionStorage.length + localStorage.length), 0, 'nothing stored for a refused token');
  });

  await step('sign in: the token is kept in sessionStorage only', async () => {
    await page.getByLabel('API token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.topbar').waitFor();
    const stored = await page.evaluate(() => [sessionStorage.getItem('hookmetry.token'), localStorage.getItem('hookmetry.token')]);
    assertEq(stored[0], adminToken, 'token in sessionStorage');
    assertEq(stored[1], null, 'token not in localStorage without "keep me signed in"');
  });

  await step('the new-endpoint screen says providers cannot reach a 127.0.0.1 capture URL, and what works', async () => {
    await page.getByRole('link', { name: '+ New endpoint' }).click();
    await page.getByRole('heading', { name: 'New endpoint' }).waitFor();
    // The test server's URLs start http://127.0.0.1:…, as on a laptop.
    const note = page.locator('.reach-note:not([hidden])');
    await note.waitFor();
    const text = await note.textContent();
    for (const want of ['Providers on the internet cannot reach this URL.', '127.0.0.1 is a loopback address that providers on the internet cannot reach.', 'Send a test event']) {
      assert(text.includes(want), `the note says “${want}”: ${text}`);
    }
    const commands = ['hookmetry serve --set server.public_url=https://hooks.example.com', 'hookmetry login --url https://hooks.example.com', 'hookmetry listen <endpoint> --forward-to 3000'];
    assertEq(JSON.stringify(await note.locator('li code').allTextContents()), JSON.stringify(commands), 'the two pieces of advice, their commands as code');
    assertEq(await note.locator('li').count(), 2, 'two pieces of advice');
    // Information, not an error: nothing failed, and nothing is announced as an alert.
    assertEq(await note.locator('[role="alert"], .form-alert, .field-error').count(), 0, 'no error parts in the note');
    const colours = await note.evaluate((el) => {
      const root = getComputedStyle(document.documentElement);
      const probe = document.createElement('span');
      document.body.append(probe);
      const rgb = (v) => {
        probe.style.color = v;
        return getComputedStyle(probe).color;
      };
      const out = { bg: getComputedStyle(el).backgroundColor, badBg: rgb(root.getPropertyValue('--bad-bg')), text: getComputedStyle(el).color, bad: rgb(root.getPropertyValue('--bad')) };
      probe.remove();
      return out;
    });
    assert(colours.bg !== colours.badBg && colours.text !== colours.bad, `the note is not in the error colours: ${JSON.stringify(colours)}`);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await note.getByRole('button', { name: `Copy command: ${commands[2]}` }).click();
    await note.locator('.copy-status', { hasText: 'Copied' }).waitFor();
    assertEq(await page.evaluate(() => navigator.clipboard.readText()), commands[2], 'a command is copied as shown');
    await screenshot(page, 'endpoint-new-reachability');
    await axeScan(page, 'the new-endpoint screen with the reachability note');
  });

  await step('create an endpoint; its URL, curl command and provider hints are shown', async () => {
    await page.getByRole('link', { name: '+ New endpoint' }).click();
    await page.getByRole('heading', { name: 'New endpoint' }).waitFor();
    await page.getByLabel('Name').fill('ui-e2e');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await page.locator('.endpoint-head h1', { hasText: 'ui-e2e' }).waitFor();
    epUrl = (await page.locator('.endpoint-head .endpoint-url').textContent()).trim();
    assert(/^http:\/\/127\.0\.0\.1:\d+\/h\/[0-9a-f]{32}$/.test(epUrl), `capture URL looks wrong: ${epUrl}`);
    epId = (await page.evaluate(() => location.hash)).split('/')[2];
    // The help shows once the first (empty) page is in: wait for it rather than race it.
    await page.locator('.curl-example', { hasText: epUrl }).waitFor({ timeout: 5_000 });
    assert(await page.locator('.curl-example', { hasText: epUrl }).isVisible(), 'the empty list shows a curl command with the URL');
    for (const p of ['Stripe', 'GitHub', 'Shopify', 'Slack']) {
      assert(await page.locator('.provider-hints summary', { hasText: p }).isVisible(), `a ${p} hint`);
    }
    const option = await page.locator('.switchers select').nth(1).locator('option:checked').textContent();
    assertEq(option, 'ui-e2e', 'the endpoint switcher shows the new endpoint');
    // Shown on every visit, the reachability note is folded to one line next to the URL.
    const folded = page.locator('.endpoint-head details.reach-note:not([hidden])');
    await folded.waitFor();
    assertEq(await folded.evaluate((d) => d.open), false, 'folded next to the URL');
    assert(await page.locator('.getting-started').getByRole('button', { name: 'Send a test event…' }).isVisible(), 'the empty list offers a test event');
  });

  await step(`a webhook sent with curl appears within ${LIVE_WITHIN_MS} ms, without a reload`, async () => {
    await waitLive();
    await page.evaluate(() => {
      window.__noReload = true;
    });
    const body = '{"type":"charge.succeeded","amount":12345678901234567890,"data":{"object":{"id":"ch_1","tags":["a","b"]}},"note":"caf\\u00e9"}';
    const [id, ms] = await sendAndSee('/orders?source=e2e&tag=a+b', {
      headers: [['Content-Type', 'application/json'], ['X-Dup', 'first'], ['X-Dup', 'second']],
      body,
    });
    ids.json = id;
    console.log(`     live after ${ms} ms`);
    assert(ms < LIVE_WITHIN_MS, `the capture appeared after ${ms} ms; expected under ${LIVE_WITHIN_MS} ms`);
    assert(await page.evaluate(() => window.__noReload === true), 'the page was reloaded');
    const row = rowFor(id);
    assertEq(await row.locator('.method').textContent(), 'POST', 'row method');
    assertEq(await row.locator('.path').textContent(), '/orders?source=e2e&tag=a+b', 'row path');
    assertEq(await row.locator('.size').textContent(), `${Buffer.byteLength(body)} B`, 'row size');
    assertEq(await row.locator('.ctype').textContent(), 'application/json', 'row content type');
    assertEq(await row.locator('.badge').textContent(), 'not checked', 'row verification badge');
    await assertTimes(`.vl-row[data-id="${id}"]`, 'the list row');
    // One vocabulary: the filter offers the words the badges use.
    assertEq(JSON.stringify(await page.getByLabel('Signature', { exact: true }).locator('option').allTextContents()),
      JSON.stringify(['Any', 'valid', 'invalid signature', 'missing signature', 'outside tolerance', 'malformed', 'not checked']), 'verdict filter words');
    await screenshot(page, 'capture-list');
    await axeScan(page, 'the capture list');
  });

  await step('capture detail: headers in order with duplicates, query parameters, JSON as sent', async () => {
    await openCapture(ids.json);
    assertEq(await page.locator('.capture-head h2').textContent(), 'POST /orders?source=e2e&tag=a+b', 'request line');
    const names = await page.locator('table.headers tbody th').allTextContents();
    const dup = names.filter((n) => n.startsWith('X-Dup'));
    assertEq(JSON.stringify(dup), JSON.stringify(['X-Dup 1/2', 'X-Dup 2/2']), 'duplicate headers kept, in order');
    const values = await page.locator('table.headers tbody tr').filter({ hasText: 'X-Dup' }).locator('td.value').allTextContents();
    assertEq(JSON.stringify(values), JSON.stringify(['first', 'second']), 'duplicate header values');
    const query = await page.locator('section.query-params tbody tr').allTextContents();
    assertEq(JSON.stringify(query), JSON.stringify(['sourcee2e', 'taga b']), 'decoded query parameters');
    const tree = page.locator('.json-tree');
    await tree.waitFor();
    // The big number keeps every digit and the escape stays as sent.
    assert((await tree.textContent()).includes('"amount": 12345678901234567890'), 'big number shown exactly');
    assert((await tree.textContent()).includes('"note": "caf\\u00e9"'), 'string escape shown as sent');
    const json = await page.evaluate(() => document.querySelector('.json-tree').innerText);
    assert(json.includes('"tags": ['), `pretty JSON tree: ${json}`);
    assertEq(await page.locator('.sha-value').textContent(), sha256Hex(Buffer.from('{"type":"charge.succeeded","amount":12345678901234567890,"data":{"object":{"id":"ch_1","tags":["a","b"]}},"note":"caf\\u00e9"}')), 'SHA-256');
    // Folding works from the keyboard.
    const objectSummary = page.locator('.json-tree details summary').nth(1);
    await objectSummary.focus();
    await page.keyboard.press('Enter');
    assertEq(await page.locator('.json-tree details').nth(1).evaluate((d) => d.open), false, 'Enter folds a JSON object');
    await page.keyboard.press('Enter');
    await page.evaluate(() => {
      document.activeElement.blur();
      document.querySelector('.request-body').scrollIntoView({ block: 'start' });
    });
    await screenshot(page, 'capture-json');
    await axeScan(page, 'the capture detail');
  });

  await step('body first: with 10 headers, at 1366×850 the body starts above the fold, before headers and metadata', async () => {
    await page.setViewportSize({ width: 1366, height: 850 });
    // curl adds Host, User-Agent, Accept and Content-Length: these six make ten.
    const extra = [1, 2, 3, 4, 5].map((i) => [`X-Extra-${i}`, `value ${i}`]);
    const [id] = await sendAndSee('/ten-headers', { headers: [['Content-Type', 'application/json'], ...extra], body: '{"ten":"headers"}' });
    await openCapture(id);
    const bodyView = page.locator('.request .body-view');
    await bodyView.waitFor();
    assertEq(await page.locator('table.headers tbody tr').count(), 10, 'the capture has 10 headers');
    const top = await bodyView.evaluate((el) => el.getBoundingClientRect().top);
    assert(top < 850, `the body view starts at ${top} px, below the fold of an 850 px window`);
    const order = await page.locator('.request > section').evaluateAll((ss) => ss.map((x) => x.className));
    assertEq(JSON.stringify(order), JSON.stringify(['verification-summary', 'request-body', 'request-headers', 'query-params', 'request-meta']), 'body before headers, query and metadata');
    await assertTimes('.capture', 'the capture detail');
    await page.setViewportSize({ width: 1280, height: 800 });
    await adminGql('mutation($id: ID!) { deleteCapture(input: {id: $id}) { id } }', { id });
    await rowFor(id).waitFor({ state: 'detached', timeout: 5_000 });
    await openCapture(ids.json);
  });

  await step('copy as cURL gives a command that sends the same request again; HAR downloads', async () => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.getByRole('button', { name: 'Copy as cURL' }).click();
    await page.locator('.actions .copy-status', { hasText: 'Copied' }).waitFor();
    const command = await page.evaluate(() => navigator.clipboard.readText());
    assert(command.includes('curl ') && command.includes(`${epUrl}/orders?source=e2e&tag=a+b`), `copied command: ${command}`);
    const out = execFileSync('bash', ['-c', `${command} --silent`]).toString();
    const again = JSON.parse(out).id;
    await rowFor(again).waitFor();
    const r = await fetch(`${base}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query($a: ID!, $b: ID!) { a: capture(id: $a) { bodySha256 method path query } b: capture(id: $b) { bodySha256 method path query } }', variables: { a: ids.json, b: again } }) });
    const { a, b } = (await r.json()).data;
    assertEq(JSON.stringify(b), JSON.stringify(a), 'the copied command sent the same method, path, query and body');
    ids.curlCopy = again;
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download HAR' }).click();
    const har = JSON.parse(readFileSync(await (await download).path(), 'utf8'));
    assertEq(har.log.version, '1.2', 'HAR version');
    assertEq(har.log.entries[0].request.method, 'POST', 'HAR method');
    assert(har.log.entries[0].request.url.endsWith('/orders?source=e2e&tag=a+b'), `HAR url ${har.log.entries[0].request.url}`);
    assertEq(Buffer.from(har.log.entries[0].request.postData.text).length, 125, 'HAR body');
    // The copy is deleted again from the UI.
    await openCapture(again);
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await rowFor(again).waitFor({ state: 'detached' });
    await page.waitForFunction(() => !location.hash.includes('/c/'));
  });

  await step('a binary body shows as a hex dump with the exact bytes; k moves to it; raw download is exact', async () => {
    const [id] = await sendAndSee('/blob', { method: 'PUT', headers: [['Content-Type', 'application/octet-stream']], body: BINARY });
    ids.binary = id;
    // The list has focus semantics of its own: j/k work anywhere outside a field.
    await page.locator('.vl-viewport').focus();
    await page.keyboard.press('k');
    await page.waitForFunction((cid) => location.hash.includes(`/c/${cid}`), id);
    assertEq(await page.locator('.vl-row.selected').getAttribute('data-id'), id, 'k selected the newer capture');
    const hex = page.locator('pre.hex');
    await hex.waitFor();
    assertEq(await page.locator('.body-view .tab[aria-selected="true"]').textContent(), 'Hex', 'binary opens in the hex view');
    assertEq(await hex.textContent(), BINARY_HEX, 'hex dump');
    assertEq(await page.locator('.sha-value').textContent(), sha256Hex(BINARY), 'SHA-256 of the binary body');
    const download = page.waitForEvent('download');
    await page.locator('.body-meta').getByRole('button', { name: 'Download raw body' }).click();
    const got = readFileSync(await (await download).path());
    assert(got.equals(BINARY), `downloaded body differs: ${got.toString('hex')}`);
    await page.keyboard.press('j');
    await page.waitForFunction((cid) => location.hash.includes(`/c/${cid}`), ids.json);
    await page.keyboard.press('k');
    await page.waitForFunction((cid) => location.hash.includes(`/c/${cid}`), id);
    await page.locator('pre.hex').waitFor();
    await page.evaluate(() => document.querySelector('.request-body').scrollIntoView({ block: 'start' }));
    await screenshot(page, 'hex-view');
  });

  await step('/ focuses the search, which filters through the API', async () => {
    await page.locator('body').click({ position: { x: 5, y: 780 } });
    await page.keyboard.press('/');
    const search = page.getByLabel('Search body');
    assert(await search.evaluate((el) => el === document.activeElement), '/ moved focus to the search field');
    await page.keyboard.type('charge.succeeded');
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 1);
    assertEq(await page.locator('.vl-row').getAttribute('data-id'), ids.json, 'only the matching capture is listed');
    assert((await page.locator('.list-status').textContent()).includes('matching the filters'), 'the status says it is filtered');
    // The filters are in the link: a reload (or the link sent to a teammate) shows the same list,
    // and opening a capture keeps them.
    await page.waitForFunction(() => location.hash.endsWith('?q=charge.succeeded'));
    const pathFilter = page.getByLabel('Path starts with');
    await pathFilter.fill('/blob');
    await pathFilter.dispatchEvent('change');
    await page.waitForFunction(() => location.hash.endsWith('?q=charge.succeeded&path=%2Fblob'));
    await page.waitForFunction(() => document.querySelector('.list-status')?.textContent === 'No capture matches these filters.');
    await pathFilter.fill('/ord');
    await pathFilter.dispatchEvent('change');
    await page.waitForFunction(() => location.hash.endsWith('?q=charge.succeeded&path=%2Ford'));
    await page.reload();
    await page.locator('.vl-row').first().waitFor();
    assertEq(await page.getByLabel('Search body').inputValue(), 'charge.succeeded', 'search restored from the link');
    assertEq(await pathFilter.inputValue(), '/ord', 'path restored from the link');
    assertEq(await page.locator('.vl-row').count(), 1, 'the reloaded list is filtered');
    await page.locator('.vl-row').first().click();
    await page.locator('.capture-head h2').waitFor();
    assertEq(await page.evaluate(() => location.hash), `#/e/${epId}/c/${ids.json}?q=charge.succeeded&path=%2Ford`, 'an open capture keeps the filters');
    // A filter the open capture does not pass closes it: no detail beside a list that leaves it out.
    await pathFilter.fill('/blob');
    await pathFilter.dispatchEvent('change');
    await page.waitForFunction(() => location.hash.endsWith('?q=charge.succeeded&path=%2Fblob') && !location.hash.includes('/c/'));
    await page.locator('.capture-head').waitFor({ state: 'detached' });
    assert(await page.locator('.detail-placeholder').isVisible(), 'the detail pane is back to its placeholder');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 2);
    assertEq(await page.evaluate(() => location.hash), `#/e/${epId}`, 'cleared filters leave the link');
  });

  await step('endpoint settings: an API error shows next to its field; a Stripe secret is set (write-only)', async () => {
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Signature verification' }).waitFor();
    await page.locator('.settings-section .reach-note:not([hidden])', { hasText: 'Send a test event' }).waitFor();
    const provider = page.getByLabel('Provider', { exact: true });
    await page.waitForFunction(() => document.querySelectorAll('select option[value="stripe"]').length > 0);
    // A Standard Webhooks secret must be whsec_ + base64: the API refuses and names the field.
    await provider.selectOption('standard-webhooks');
    await page.getByLabel('Secret', { exact: true }).fill('not-a-whsec-secret');
    await page.getByRole('button', { name: 'Save verification settings' }).click();
    const secretInput = page.getByLabel('Secret', { exact: true });
    await page.waitForFunction(() => document.querySelector('[data-field="verification.secrets[0].value"]')?.getAttribute('aria-invalid') === 'true');
    const errId = `${await secretInput.getAttribute('id')}-error`;
    const msg = await page.locator(`#${errId}`).textContent();
    assert(/^[A-Z].*\.$/.test(msg) && /whsec_/.test(msg), `a sentence under the secret field naming the problem: ${msg}`);
    await provider.selectOption('stripe');
    await secretInput.fill(SECRET);
    await page.getByRole('button', { name: 'Save verification settings' }).click();
    await page.locator('.current-provider', { hasText: 'stripe' }).waitFor();
    assertEq(await page.locator('.secret-list .secret-label').allTextContents().then((x) => x.join(',')), 'current', 'secret labels');
    // Labelled "current" and the current one: the word once, not "current current".
    const secretRow = (await page.locator('.secret-list li').first().innerText()).replace(/\s+/g, ' ').trim();
    assertEq(secretRow, 'current · •••••••• write-only, never shown', 'the secret row');
    // Changing only the tolerance needs no secret retyped; the VALID verdict in the next step
    // proves the stored one was kept.
    assertEq(await page.locator('[data-field="verification.secrets[0].value"]').inputValue(), '', 'the secret field is empty after saving');
    await page.getByLabel('Tolerance (seconds)').fill('600');
    await page.getByRole('button', { name: 'Replace verification settings' }).click();
    await page.locator('.current-verification dd', { hasText: '600 s' }).waitFor();
    assertEq(await page.locator('.secret-list .secret-label').allTextContents().then((x) => x.join(',')), 'current', 'secret kept');
    const html = await page.content();
    assert(!html.includes(SECRET), 'the secret value is not on the page after saving');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'endpoint-settings');
    await axeScan(page, 'endpoint settings');
  });

  await step('send a test event: a signed Stripe event is listed live as valid, with a change to its body; a bad change is refused at the field', async () => {
    await page.getByRole('link', { name: 'Captures', exact: true }).click();
    await page.locator('.vl-row').first().waitFor();
    await waitLive();
    const rowsBefore = await page.locator('.vl-row').count();
    await page.locator('.endpoint-head').getByRole('button', { name: 'Send a test event…' }).click();
    const dialog = page.locator('dialog.test-event');
    await dialog.waitFor();
    await dialog.locator('select[name="provider"] option[value="stripe"]').waitFor({ state: 'attached' });
    // The endpoint checks Stripe signatures (the step before), so Stripe is what is offered.
    assertEq(await dialog.getByLabel('Provider').inputValue(), 'stripe', 'the endpoint’s provider is the default');
    const event = dialog.getByLabel('Event', { exact: true });
    await event.selectOption('payment_intent.succeeded');
    assertEq(await dialog.locator(`#${await event.getAttribute('id')}-hint`).textContent(), 'A payment was collected in full.', 'the event’s description is shown with it');
    await dialog.getByLabel('Changes to the body (optional)').fill('data.object.amount=4242\n');
    const t0 = Date.now();
    await dialog.getByRole('button', { name: 'Send', exact: true }).click();
    const sent = dialog.locator('.test-event-sent');
    await sent.waitFor();
    assertEq(await sent.textContent(), 'Sent payment_intent.succeeded (Stripe). Signed with the endpoint’s current secret.', 'the dialog says it was signed');
    const id = await sent.getAttribute('data-capture-id');
    // Through the normal pipeline: listed live, verified with the secret set in the step before.
    await rowFor(id).waitFor({ state: 'attached', timeout: 10_000 });
    console.log(`     test event listed ${Date.now() - t0} ms after Send`);
    await page.waitForFunction((cid) => document.querySelector(`.vl-row[data-id="${cid}"] .badge`)?.textContent === 'valid', id, { timeout: 5_000 });
    assertEq(await page.locator('.vl-row').count(), rowsBefore + 1, 'one capture added');
    await screenshot(page, 'test-event');
    await axeScan(page, 'the test event dialog');

    // It opens from the dialog; its body is the sample with the change.
    await dialog.getByRole('button', { name: 'Open the capture' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction((cid) => location.hash.includes(`/c/${cid}`), id);
    const tree = page.locator('.json-tree');
    await tree.waitFor();
    const json = await tree.textContent();
    assert(json.includes('"type": "payment_intent.succeeded"'), `the body is a payment_intent.succeeded event: ${json.slice(0, 300)}`);
    assert(json.includes('"amount": 4242'), `the change is in the body: ${json.slice(0, 600)}`);
    assertEq(await page.locator('.verification-summary .badge').textContent(), 'valid', 'the open capture’s verdict');

    // A change that is not path=value: the API's sentence at the field, and nothing is sent.
    await page.locator('.endpoint-head').getByRole('button', { name: 'Send a test event…' }).click();
    await dialog.waitFor();
    await dialog.locator('select[name="provider"] option[value="stripe"]').waitFor({ state: 'attached' });
    const changes = dialog.getByLabel('Changes to the body (optional)');
    await changes.fill('data.object.amount=1\nnodots');
    await dialog.getByRole('button', { name: 'Send', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('dialog.test-event [data-field="set"]')?.getAttribute('aria-invalid') === 'true');
    const msg = await dialog.locator(`#${await changes.getAttribute('id')}-error`).textContent();
    assert(/^[A-Z].*\.$/.test(msg) && msg.includes('nodots'), `a sentence at the changes field naming the line: ${msg}`);
    assert((await changes.getAttribute('aria-describedby')).includes(`${await changes.getAttribute('id')}-error`), 'the error is announced with the field');
    assertEq(await dialog.locator('.test-event-sent').count(), 0, 'no “Sent” for a refused event');
    await axeScan(page, 'the test event dialog with an error');
    await page.waitForTimeout(800);
    assertEq(await page.locator('.vl-row').count(), rowsBefore + 1, 'no capture added for a refused event');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    ids.testEvent = id;
  });

  await step('a correctly signed Stripe request shows VALID with its reason and matching secret', async () => {
    await page.getByRole('link', { name: 'Captures', exact: true }).click();
    await page.locator('.vl-row').first().waitFor();
    await waitLive();
    const body = Buffer.from('{"id":"evt_1","type":"payment_intent.succeeded"}');
    const ts = Math.floor(Date.now() / 1000);
    const [id] = await sendAndSee('/stripe', { headers: [['Content-Type', 'application/json'], ['Stripe-Signature', stripeSignature(SECRET, ts, body)]], body });
    ids.valid = id;
    assertEq(await rowFor(id).locator('.badge').textContent(), 'valid', 'row badge');
    await openCapture(id);
    await page.getByRole('tab', { name: /Signature/ }).click();
    const panel = page.locator('.verification');
    await panel.waitFor();
    assertEq(await panel.getAttribute('data-verdict'), 'VALID', 'verdict');
    assertEq(await panel.locator('.verdict-line').textContent(), 'Signature: valid', 'verdict words, as the badge says them');
    assertEq(await panel.locator('.advice').count(), 0, 'no advice for a signature that matches the current secret');
    await assertTimes('.verification', 'the verification panel');
    assertEq(await panel.locator('.verification-reason').textContent(), 'Matches secret current.', 'reason');
    assertEq(await panel.locator('dd.secret-label').textContent(), 'current', 'matched secret');
    await screenshot(page, 'verification');
    await axeScan(page, 'the verification panel');
  });

  await step('a wrongly signed request shows why it failed', async () => {
    const body = Buffer.from('{"id":"evt_2","type":"payment_intent.succeeded","note":"ünïcödé\r\n"}');
    const ts = Math.floor(Date.now() / 1000);
    const [id] = await sendAndSee('/stripe?attempt=2', { headers: [['Content-Type', 'application/json'], ['Stripe-Signature', stripeSignature('whsec_wrong', ts, body)]], body });
    ids.invalid = id;
    ids.invalidBody = body;
    assertEq(await rowFor(id).locator('.badge').textContent(), 'invalid signature', 'row badge');
    await openCapture(id);
    await page.getByRole('tab', { name: /Signature/ }).click();
    const panel = page.locator('.verification');
    await panel.waitFor();
    assertEq(await panel.getAttribute('data-verdict'), 'INVALID_SIGNATURE', 'verdict');
    const reason = await panel.locator('.verification-reason').textContent();
    assert(reason.startsWith('No secret matches the signature in Stripe-Signature (tried current)'), `reason: ${reason}`);
    assertEq(await panel.locator('dd.secret-label').textContent(), 'none', 'no secret matched');
    assertEq(await panel.locator('.advice').getAttribute('data-advice'), 'wrong-secret', 'a wrong secret gets advice about the secret');
  });

  await step('a body re-serialised on the way is explained, and the advice says the secret is right', async () => {
    // Signed over compact JSON, delivered pretty-printed: what a framework that parses and
    // re-encodes the body before verifying does. verify names the change in its reason.
    const compact = Buffer.from('{"id":"evt_3","type":"invoice.paid","data":{"amount":5}}');
    const pretty = Buffer.from(JSON.stringify(JSON.parse(compact.toString()), null, 2));
    const ts = Math.floor(Date.now() / 1000);
    const [id] = await sendAndSee('/pretty', { headers: [['Content-Type', 'application/json'], ['Stripe-Signature', stripeSignature(SECRET, ts, compact)]], body: pretty });
    assertEq(await rowFor(id).locator('.badge').textContent(), 'invalid signature', 'row badge');
    await openCapture(id);
    await page.getByRole('tab', { name: /Signature/ }).click();
    const panel = page.locator('.verification');
    await panel.waitFor();
    const reason = await panel.locator('.verification-reason').textContent();
    assert(reason.includes('if the body were re-serialized JSON (compact)'), `reason: ${reason}`);
    const advice = panel.locator('.advice');
    assertEq(await advice.getAttribute('data-advice'), 're-serialized', 'advice chosen by the reason');
    const text = await advice.textContent();
    assert(/secret is right/.test(text) && /raw request body/.test(text), `advice: ${text}`);
    assert(!/check that .* has the secret/i.test(text), `the advice contradicts the reason: ${text}`);
    await screenshot(page, 'verification-reserialised');
    await adminGql('mutation($id: ID!) { deleteCapture(input: {id: $id}) { id } }', { id });
    await rowFor(id).waitFor({ state: 'detached', timeout: 5_000 });
    await openCapture(ids.invalid);
    await page.getByRole('tab', { name: /Signature/ }).click();
    await page.locator('.verification').waitFor();
  });

  await step('changes made elsewhere show at once: a new verdict updates the open capture in place, a deletion removes its row', async () => {
    // The wrongly signed capture is open on its Signature tab. Elsewhere, the secret it was
    // signed with is added and captures are checked again.
    await adminGql('mutation($e: ID!) { addVerificationSecret(input: {endpointId: $e, label: "found", value: "whsec_wrong"}) { id } }', { e: epId });
    await adminGql('mutation($e: ID!) { reverifyCaptures(input: {endpointId: $e, since: "2000-01-01T00:00:00Z"}) { count } }', { e: epId });
    const panel = page.locator('.verification');
    await page.waitForFunction(() => document.querySelector('.verification')?.getAttribute('data-verdict') === 'VALID');
    assertEq(await panel.locator('dd.secret-label').textContent(), 'found', 'the panel names the secret that matches now');
    // The list draws on the next animation frame; the panel at once.
    await page.waitForFunction((cid) => document.querySelector(`.vl-row[data-id="${cid}"] .badge`)?.textContent === 'valid', ids.invalid, { timeout: 5_000 });
    assert(await page.getByRole('tab', { name: /Signature/ }).evaluate((t) => t.getAttribute('aria-selected') === 'true'), 'still on the Signature tab');
    // Put it back as it was for the steps that follow.
    await adminGql('mutation($e: ID!) { removeVerificationSecret(input: {endpointId: $e, label: "found"}) { id } }', { e: epId });
    await adminGql('mutation($e: ID!) { reverifyCaptures(input: {endpointId: $e, since: "2000-01-01T00:00:00Z"}) { count } }', { e: epId });
    await page.waitForFunction(() => document.querySelector('.verification')?.getAttribute('data-verdict') === 'INVALID_SIGNATURE');

    const [gone] = await sendAndSee('/deleted-elsewhere', { headers: [['Content-Type', 'text/plain']], body: 'bye' });
    await adminGql('mutation($id: ID!) { deleteCapture(input: {id: $id}) { id } }', { id: gone });
    await rowFor(gone).waitFor({ state: 'detached', timeout: 5_000 });
  });

  await step('replay: a refused target is explained at the field; a replay reaches the receiver byte for byte, attempts live', async () => {
    await page.getByRole('tab', { name: /Replay/ }).click();
    const target = page.getByLabel('Target URL');
    await target.fill('ftp://127.0.0.1/nope');
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-field="target"]')?.getAttribute('aria-invalid') === 'true');
    const msg = await page.locator(`#${await target.getAttribute('id')}-error`).textContent();
    assert(/http/.test(msg) && /^[A-Z].*[.)]$/.test(msg), `a sentence about the target: ${msg}`);

    receiver.answer({ status: 200, headers: { 'content-type': 'application/json', 'x-version': '1' }, body: '{"ok":true,"n":1,"same":"yes"}' });
    await target.fill(`${receiver.url}/receiver`);
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    const first = page.locator('.delivery').first();
    await first.locator('.attempt-status', { hasText: '200' }).waitFor({ timeout: 15_000 });
    assertEq(await first.getAttribute('data-state'), 'SUCCEEDED', 'delivery state');
    assertEq(await first.locator('.delivery-attempts').textContent(), '1 attempt · delivered', 'a delivered replay does not read as still retrying');
    await assertTimes('.delivery', 'the delivery card');
    assert(/^\d+ ms$/.test(await first.locator('.attempt-latency').textContent()), 'latency shown');
    assertEq(receiver.received.length, 1, 'the receiver got one request');
    const got = receiver.received[0];
    assertEq(got.method, 'POST', 'method replayed');
    assertEq(got.url, '/receiver/stripe?attempt=2', 'path and query appended to the target');
    assert(got.body.equals(ids.invalidBody), `body differs: ${got.body.toString('hex')} vs ${ids.invalidBody.toString('hex')}`);
    assertEq(got.headers['stripe-signature'] != null, true, 'captured headers forwarded');

    receiver.answer({ status: 200, headers: { 'content-type': 'application/json', 'x-version': '2' }, body: '{"ok":true,"n":2,"same":"yes"}' });
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.locator('.delivery').nth(1).waitFor();
    await page.locator('.delivery').first().locator('.attempt-status', { hasText: '200' }).waitFor({ timeout: 15_000 });
    assertEq(receiver.received.length, 2, 'the receiver got the second replay');
    assert(receiver.received[1].body.equals(ids.invalidBody), 'second replay body');
  });

  await step('compare two attempts side by side', async () => {
    const compare = page.getByRole('button', { name: 'Compare responses' });
    await compare.waitFor();
    // The two selects say which side they are, and each option names delivery, attempt,
    // status, target and time, in full.
    const left = page.getByLabel('Left (before)');
    const right = page.getByLabel('Right (after)');
    const target = `${receiver.url}/receiver/stripe?attempt=2`;
    for (const [sel, n] of [[left, 1], [right, 2]]) {
      const shown = await sel.evaluate((el) => {
        const text = el.selectedOptions[0].textContent;
        const cs = getComputedStyle(el);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
        // The room for text: the box less its padding and the drop-down arrow.
        const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 20;
        const full = el.parentElement.querySelector('.compare-full');
        return {
          text, title: el.title, width: ctx.measureText(text).width, room,
          full: full && !full.hidden && full.offsetParent ? { text: full.textContent, clipped: full.scrollWidth > full.clientWidth } : null,
        };
      });
      assert(shown.text.startsWith(`Delivery ${n}, attempt 1 · 200 · ${target} · `), `option names delivery, attempt, status and target: ${shown.text}`);
      assertEq(shown.text.slice(shown.text.lastIndexOf(' · ') + 3), await page.locator(`.delivery:nth-child(${3 - n}) .attempts time`).first().evaluate((t) => t.textContent.replace(/\.\d{3} /, ' ')), 'option names the attempt time');
      // At this width the option does not fit its select: it is written out in full beneath.
      if (shown.width > shown.room) {
        assert(shown.full && shown.full.text === shown.text && !shown.full.clipped, `the option is cut off (${Math.round(shown.width)} px of text in ${Math.round(shown.room)} px) and not shown in full: ${JSON.stringify(shown)}`);
      } else {
        assertEq(shown.full, null, 'an option that fits is not repeated');
      }
      assertEq(shown.title, shown.text, 'the select’s title is the whole option');
    }
    await compare.click();
    const result = page.locator('.comparison');
    await result.waitFor();
    assertEq(await result.locator('.cmp-before-status').textContent().then((t) => t.split(',')[0]), '200', 'before status');
    const changed = await result.locator('tr.chg-changed th').allTextContents();
    assert(changed.includes('x-version'), `x-version marked changed: ${changed}`);
    const removed = await result.locator('td.diff-removed').allTextContents();
    const added = await result.locator('td.diff-added').allTextContents();
    assert(removed.some((l) => l.includes('"n": 1')), `before side: ${removed}`);
    assert(added.some((l) => l.includes('"n": 2')), `after side: ${added}`);
    const same = await result.locator('td.diff-same').allTextContents();
    assert(same.some((l) => l.includes('"same": "yes"')), 'unchanged lines on both sides');
    await result.scrollIntoViewIfNeeded();
    await screenshot(page, 'replay-compare');
    await axeScan(page, 'replay and compare');
  });

  await step('a failing replay reads as retrying with its next time, then as delivered', async () => {
    for (let i = 0; i < 3; i += 1) receiver.answer({ status: 500, headers: { 'content-type': 'text/plain' }, body: 'not yet' });
    const before = await page.locator('.delivery').count();
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.locator('.delivery').nth(before).waitFor();
    const attempts = page.locator('.delivery').first().locator('.delivery-attempts');
    // Read in one go: the state moves on within seconds.
    const retrying = await (await page.waitForFunction(() => {
      const el = document.querySelector('.delivery .delivery-attempts');
      const t = el?.querySelector('time');
      return el && t && /^\d of 8 attempts · retrying, next at /.test(el.textContent) ? { title: t.title, text: t.textContent } : null;
    }, null, { timeout: 15_000 })).jsonValue();
    assertEq(retrying.text, localTime(retrying.title, false), 'the next attempt’s time has its date and zone');
    await attempts.filter({ hasText: /^4 attempts · delivered$/ }).waitFor({ timeout: 30_000 });
    // The two end states no replay here reaches, through the same function the cards use.
    const ends = await page.evaluate(async () => {
      const src = [...document.querySelectorAll('link[rel="modulepreload"]')].map((l) => l.href).find((u) => u.endsWith('/views/replay.js'));
      const { attemptsSummary } = await import(src);
      const words = (d) => attemptsSummary({ maxAttempts: 8, nextAttemptAt: null, ...d }).map((x) => (typeof x === 'string' ? x : x.textContent)).join('');
      return [words({ state: 'DEAD_LETTERED', attemptCount: 8 }), words({ state: 'CANCELLED', attemptCount: 2 }), words({ state: 'PENDING', attemptCount: 0 })];
    });
    assertEq(JSON.stringify(ends), JSON.stringify(['8 of 8 attempts · gave up', '2 attempts · cancelled', 'no attempt yet · sending']), 'end states in words');
  });

  await step('bulk replay: the captures the filters match reach the receiver, followed live as a tally', async () => {
    await page.goto(`${base}/#/e/${epId}?path=%2Fstripe`);
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 2);
    const before = receiver.received.length;
    await page.getByRole('button', { name: 'Replay matching…' }).click();
    const dialog = page.locator('dialog.bulk-replay');
    await dialog.waitFor();
    const scope = await dialog.locator('.bulk-scope').textContent();
    assert(scope.includes('path starts with /stripe'), `the dialog says what it replays: ${scope}`);
    await dialog.getByLabel('Target URL').fill(`${receiver.url}/bulk`);
    // How many will go, counted by the API before anything is sent, and kept in step with the limit.
    const summary = dialog.locator('.bulk-summary');
    await summary.filter({ hasText: /^2 captures match\./ }).waitFor();
    assertEq(await summary.textContent(), `2 captures match. Send 2 captures to ${receiver.url}/bulk.`, 'the dialog says how many it sends, and where');
    await dialog.getByLabel('At most this many captures, newest first').fill('1');
    assertEq(await summary.textContent(), `2 captures match. Send 1 capture to ${receiver.url}/bulk (the newest 1, the limit).`, 'the count follows the limit');
    assertEq(await dialog.locator('button[type="submit"]').textContent(), 'Send 1 capture', 'the button says it too');
    await dialog.getByLabel('At most this many captures, newest first').fill('100');
    await dialog.getByRole('button', { name: 'Send 2 captures', exact: true }).click();
    await dialog.locator('.bulk-total', { hasText: 'all finished' }).waitFor({ timeout: 15_000 });
    assertEq(await dialog.locator('[data-state="SUCCEEDED"] .count').textContent(), '2', 'both replays succeeded');
    assertEq(await dialog.locator('[data-state="DEAD_LETTERED"] .count').textContent(), '0', 'none dead-lettered');
    const got = receiver.received.slice(before);
    assertEq(got.map((r) => r.url).sort().join(' '), '/bulk/stripe /bulk/stripe?attempt=2', 'each matching capture once, nothing else');
    assert(got.find((r) => r.url === '/bulk/stripe?attempt=2').body.equals(ids.invalidBody), 'bulk replay body byte for byte');
    await screenshot(page, 'bulk-replay');
    await axeScan(page, 'the bulk replay dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();
    // Nothing listed, nothing to replay: the button is not offered.
    assert(await page.locator('.bulk-btn').isVisible(), 'the bulk replay button is there while captures are listed');
    await page.goto(`${base}/#/e/${epId}?path=%2Fnothing-here`);
    await page.locator('.list-status', { hasText: 'No capture matches these filters.' }).waitFor();
    assertEq(await page.locator('.bulk-btn').isVisible(), false, 'no bulk replay for an empty list');
    await page.goto(`${base}/#/e/${epId}`);
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length > 2);
    assert(await page.locator('.bulk-btn').isVisible(), 'the bulk replay button is back');
  });

  await step('team settings: a token is shown once, works, and is revoked', async () => {
    await page.getByRole('link', { name: 'Team settings' }).click();
    await page.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    await page.locator('.tokens-table').waitFor();
    const name = `e2e-viewer-${Date.now().toString(36)}`;
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Role').selectOption('VIEWER');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.locator('.token-secret').textContent()).trim();
    assert(/^hm_/.test(secret), `token secret shown: ${secret}`);
    const me = async () => (await fetch(`${base}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: '{"query":"{ me { role } }"}' })).status;
    assertEq(await me(), 200, 'the new token works');
    await screenshot(page, 'team-settings');
    await axeScan(page, 'team settings');
    // The instance admin token, which this page uses: revoking it is final, and said so first.
    const mine = page.locator('.tokens-table tbody tr', { has: page.locator('.tag', { hasText: 'you' }) });
    await mine.getByRole('button', { name: /^Revoke / }).click();
    const confirm = page.locator('dialog.confirm-revoke');
    await confirm.waitFor();
    const words = await confirm.textContent();
    for (const want of ['instance admin token', 'cannot be undone', 'hookmetry admin-token --rotate', 'will be signed out']) {
      assert(words.includes(want), `the warning says “${want}”: ${words}`);
    }
    assert(await confirm.getByRole('button', { name: 'Keep it' }).evaluate((b) => b === document.activeElement), '“Keep it” has the focus');
    await axeScan(page, 'the revoke warning');
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    assertEq(await mine.locator('td').nth(3).textContent(), 'active', 'the admin token is still active');
    assertEq((await adminGql('{ me { instanceAdmin } }')).me.instanceAdmin, true, 'the admin token still works');
    await page.getByRole('button', { name: `Revoke ${name}` }).click();
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.locator('.tokens-table tr.revoked', { hasText: name }).waitFor();
    assertEq(await me(), 401, 'the revoked token is refused');
  });

  await step('provider events: type tags, ×2 and out-of-order badges, the type filter, a tag click, the Event section', async () => {
    // An endpoint without verification settings: requests that look like Stripe's (a
    // Stripe-Signature header) still have their events read where Stripe names them.
    const ev = (await adminGql('mutation { createEndpoint(input: {name: "events"}) { id url } }')).createEndpoint;
    await page.goto(`${base}/#/e/${ev.id}`);
    // A reload lists the endpoint made outside the page in the switcher too.
    await page.reload();
    await page.locator('.getting-started').waitFor();
    await waitLive();
    // Ten days ago: old enough to read "… d ago", relative to today so no date is baked in.
    const T0 = Math.floor(Date.now() / 1000) - 10 * 86400;
    const stripeEvent = (id, type, created, object) => JSON.stringify({ id, object: 'event', type, created, data: { object: { id: object, object: 'charge' } } });
    const send = async (body) => {
      const id = await sendWebhook(`${ev.url}/stripe`, { headers: [['Content-Type', 'application/json'], ['Stripe-Signature', `t=${T0},v1=00`]], body });
      await rowFor(id).waitFor({ state: 'attached', timeout: 10_000 });
      return id;
    };
    const first = await send(stripeEvent('evt_e2e_1', 'charge.succeeded', T0, 'ch_e2e'));
    // The same event again, after it was answered 200 at once: a duplicate, not a retry.
    const again = await send(stripeEvent('evt_e2e_1', 'charge.succeeded', T0, 'ch_e2e'));
    // Created 90 s before the event about ch_e2e that arrived first.
    const late = await send(stripeEvent('evt_e2e_0', 'charge.updated', T0 - 90, 'ch_e2e'));
    const invoice = await send(stripeEvent('evt_e2e_2', 'invoice.paid', T0 + 5, 'in_e2e'));
    // A type is data from whoever holds the capture URL: it must stay text.
    const evil = '<img src=x onerror=window.__xss=1>';
    const hostile = await send(stripeEvent('evt_e2e_3', evil, T0 + 6, 'ch_other'));
    // A third charge.succeeded whose charge has a field the two before lacked: its type's shape
    // changed (analysed shortly after it is stored, announced by schemaChanged).
    const grownBody = JSON.parse(stripeEvent('evt_e2e_5', 'charge.succeeded', T0 + 10, 'ch_e2e'));
    grownBody.data.object.amount = 4200;
    const grown = await send(JSON.stringify(grownBody));

    const tag = (id) => rowFor(id).locator('.ev-type');
    // Live rows get their type as they arrive; the first row of the group learns it is one of two.
    for (const [id, type] of [[first, 'charge.succeeded'], [again, 'charge.succeeded'], [late, 'charge.updated'], [invoice, 'invoice.paid'], [grown, 'charge.succeeded']]) {
      await page.waitForFunction(([cid, t]) => document.querySelector(`.vl-row[data-id="${cid}"] .ev-type`)?.textContent === t, [id, type], { timeout: 5_000 });
    }
    assertEq(await rowFor(again).locator('.redelivered .count').textContent(), '×2', 'the redelivery badge');
    assertEq(await rowFor(again).locator('.redelivered').getAttribute('title'), 'duplicate: the event was received 2 times', 'the badge says what kind');
    await page.waitForFunction((cid) => document.querySelector(`.vl-row[data-id="${cid}"] .redelivered .count`)?.textContent === '×2', first, { timeout: 5_000 });
    assertEq(await rowFor(first).locator('.redelivered').getAttribute('data-kind'), 'FIRST', 'the first capture of the event is marked as the first');
    assertEq(await rowFor(late).locator('.out-of-order').textContent(), 'out of order', 'the out-of-order badge');
    assertEq(await rowFor(invoice).locator('.redelivered, .out-of-order').count(), 0, 'no badge for a single, in-order event');
    assertEq(await rowFor(first).locator('.out-of-order').count(), 0, 'the newer event is in order');
    await rowFor(grown).locator('.schema-changed').waitFor({ timeout: 5_000 });
    assertEq(await rowFor(grown).locator('.schema-changed').textContent(), 'schema changed', 'the schema change badge, live');
    assertEq(await rowFor(grown).locator('.schema-changed').getAttribute('data-kind'), 'ADDED', 'what kind of change');
    assertEq(await rowFor(again).locator('.schema-changed').count(), 0, 'the same shape again is no change');
    assertEq(await rowFor(grown).locator('.redelivered, .out-of-order').count(), 0, 'another event, newer: no other badge');
    // Text, not markup: the tag holds the type as characters and no element was made of it.
    assertEq(await tag(hostile).textContent(), evil, 'a hostile type is shown as text');
    assertEq(await tag(hostile).evaluate((el) => el.children.length), 0, 'no element inside the type tag');
    assertEq(await page.locator('.vl img').count(), 0, 'no <img> anywhere in the list');
    assertEq(await page.evaluate(() => window.__xss), undefined, 'nothing ran');
    // The list's own query, with its event parts and answer, stays inside the complexity limit
    // for a page of 150, half again the page the list asks for (about 29 per row of 5000).
    const page150 = await adminGql(CAPTURES, { e: ev.id, first: 150 });
    assertEq(page150.captures.edges.length, 6, 'a page of 150 of the list query is accepted');
    await axeScan(page, 'the capture list with event tags and badges');

    // The filter narrows to a pattern, through the API, and is kept in the link.
    const typeFilter = page.getByLabel('Event type');
    const listed = () => page.locator('.vl-row').evaluateAll((rs) => rs.map((r) => r.dataset.id).sort());
    await typeFilter.fill('charge.*');
    await typeFilter.dispatchEvent('change');
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 4);
    assertEq(JSON.stringify(await listed()), JSON.stringify([first, again, late, grown].sort()), 'charge.* lists the charge events only');
    await page.waitForFunction(() => location.hash.endsWith('?type=charge.*'));
    // A refused pattern: the API's message, naming the field, at the filter.
    await typeFilter.fill('x'.repeat(201));
    await typeFilter.dispatchEvent('change');
    const alert = page.locator('.filters .form-alert:not([hidden])');
    await alert.waitFor();
    assertEq(await alert.textContent(), 'Invalid `filter.eventType`: must be 1 to 200 bytes, got 201.', 'the refusal names the field');
    assertEq(await typeFilter.getAttribute('aria-invalid'), 'true', 'the field is marked invalid');
    assertEq(await typeFilter.getAttribute('aria-describedby'), await alert.getAttribute('id'), 'the message is tied to the field');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 6);
    assertEq(await typeFilter.getAttribute('aria-invalid'), null, 'cleared, the field is no longer invalid');
    // A click on a row's type filters by it, without opening the capture.
    await tag(invoice).click();
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 1);
    assertEq(JSON.stringify(await listed()), JSON.stringify([invoice]), 'the tag’s type is the filter');
    assertEq(await typeFilter.inputValue(), 'invoice.paid', 'the filter field shows the type');
    assertEq(await page.evaluate(() => location.hash), `#/e/${ev.id}?type=invoice.paid`, 'no capture opened, the filter is in the link');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.vl-row').length === 6);

    // The detail of the duplicate: the event, its group and how it was answered.
    const group = (await adminGql('query($id: ID!) { capture(id: $id) { redeliveries { captures { receivedAt } } } }', { id: again })).capture.redeliveries;
    await openCapture(again);
    const section = page.locator('.capture-event');
    await section.waitFor();
    const order = await page.locator('.request > section').evaluateAll((ss) => ss.map((x) => x.className));
    assertEq(JSON.stringify(order.slice(0, 3)), JSON.stringify(['verification-summary', 'capture-event', 'request-body']), 'the event comes after the signature, before the body');
    assertEq(await section.locator('.ev-f-type dd').textContent(), 'charge.succeeded', 'type');
    assertEq(await section.locator('.ev-f-id dd').textContent(), 'evt_e2e_1', 'id');
    assertEq(await section.locator('.ev-f-resource dd').textContent(), 'ch_e2e', 'resource');
    const created = new Date(T0 * 1000).toISOString().replace('.000Z', '.000000Z');
    assertEq(await section.locator('.ev-f-created time').getAttribute('datetime'), created, 'created at, as the API sent it');
    assertEq(await section.locator('.ev-f-created time').textContent(), localTime(created, false), 'created at, in local time');
    assert(/^ \(\d+ d ago\)$/.test(await section.locator('.ev-ago').textContent()), `created at, relative: ${await section.locator('.ev-ago').textContent()}`);
    // Stripe names no attempt or retry reason: left out, never "null".
    assertEq(await section.locator('.ev-f-attempt, .ev-f-retry').count(), 0, 'null fields are left out');
    assert(!(await section.textContent()).includes('null'), 'no “null” in the section');
    assertEq(await section.locator('.ev-group-line').textContent(), 'Delivery 2 of 2 · duplicate: the delivery before was answered 200 in time: sent again by the provider, not retried.', 'position, kind and reason');
    const members = section.locator('.ev-members li');
    assertEq(await members.count(), 2, 'both captures of the event');
    assertEq(await members.nth(0).locator('a').getAttribute('href'), `#/e/${ev.id}/c/${first}`, 'the first capture is a link');
    assertEq(await members.nth(0).locator('time').getAttribute('datetime'), group.captures[0].receivedAt, 'with its receive time');
    assert((await members.nth(0).textContent()).endsWith(' · answered 200'), `with what it was answered: ${await members.nth(0).textContent()}`);
    assertEq(await members.nth(1).locator('a').count(), 0, 'this capture is not a link to itself');
    assert((await members.nth(1).textContent()).endsWith('(this one)'), 'this capture is marked');
    assertEq(await section.locator('.ev-order').textContent(), 'In order: no newer event about ch_e2e had arrived before it.', 'the ordering line');
    // Which of Stripe's documented retries the redelivery looks like (docs/retry-profiles.md).
    const guess = await section.locator('.ev-retry-guess').textContent();
    assert(guess.startsWith("Looks like Stripe's 1st retry (Stripe retries after ~1h; this came ") && guess.endsWith(' after the previous).'), `the retry guess: ${guess}`);
    await assertTimes('.capture-event', 'the event section');
    await page.evaluate(() => document.activeElement?.blur());
    await screenshot(page, 'capture-events');
    await axeScan(page, 'the capture detail with its event');

    // The late one: how much older, and a link to the newer event's capture.
    await openCapture(late);
    await section.waitFor();
    const ord = (await adminGql('query($id: ID!) { capture(id: $id) { ordering { newerCaptureId gapSeconds } } }', { id: late })).capture.ordering;
    assertEq(ord.gapSeconds, 90, 'the API’s gap');
    assertEq(await section.locator('.ev-order').textContent(), `out of order Created 1 min 30 s before an event about ch_e2e that arrived first — capture ${ord.newerCaptureId}.`, 'the ordering line');
    assertEq(await section.locator('.ev-order a').getAttribute('href'), `#/e/${ev.id}/c/${ord.newerCaptureId}`, 'linked to the newer capture');
    assert([first, again].includes(ord.newerCaptureId), 'the newer capture is one of the charge.succeeded ones');
    assertEq(await section.locator('.ev-group-line').textContent(), 'Received once.', 'a single delivery');
    assertEq(await section.locator('.ev-schema').count(), 0, 'the first of its type changes no shape');

    // The grown one: which field changed, with its types before and now.
    await openCapture(grown);
    await section.waitFor();
    assertEq(await section.locator('.ev-schema-line').textContent(), 'schema changed Fields added compared with earlier events of this type:', 'the schema change line');
    const changed = await section.locator('.ev-schema-fields tbody tr').evaluateAll((rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
    assertEq(JSON.stringify(changed), JSON.stringify([['data.object.amount', 'added', '–', 'integer']]), 'the added field and its types');

    // The hostile type in the detail: text again.
    await openCapture(hostile);
    await section.waitFor();
    assertEq(await section.locator('.ev-f-type dd').textContent(), evil, 'the hostile type is text in the detail');
    assertEq(await section.locator('img').count(), 0, 'no <img> in the event section');
    assertEq(await page.evaluate(() => window.__xss), undefined, 'nothing ran');
  });

  await step('event shapes: the learned types with their samples, one type’s fields, its JSON Schema downloaded and copied, a link from a schema change', async () => {
    // A name with a space: the download's file name must not carry it.
    const sh = (await adminGql('mutation { createEndpoint(input: {name: "shapes e2e"}) { id url } }')).createEndpoint;
    await page.goto(`${base}/#/e/${sh.id}/settings`);
    await page.reload();
    const section = page.locator('.event-shapes');
    await section.locator('.shape-empty').waitFor();
    assertEq(await section.locator('.shape-empty').textContent(), 'No event shape is learned yet. Shapes are learned from captures that name an event type and have a JSON body.', 'the empty state');

    // No verification settings: the type is found in the body's `type`.
    const send = (body) => sendWebhook(`${sh.url}/orders`, { headers: [['Content-Type', 'application/json']], body: JSON.stringify(body) });
    await send({ type: 'order.paid', id: 'ord_1', amount: 100, customer: { id: 'cus_1' } });
    await send({ type: 'order.paid', id: 'ord_2', amount: 250, customer: { id: 'cus_2' } });
    // The third adds a customer's email and order lines: a schema change.
    const grown = await send({ type: 'order.paid', id: 'ord_3', amount: 300, customer: { id: 'cus_3', email: 'x@example.com' }, lines: [{ sku: 'A', qty: 2 }] });
    await send({ type: 'customer.created', id: 'cus_9', email: 'y@example.com' });
    const evil = '<img src=x onerror=window.__xss2=1>';
    await send({ type: evil, id: 'z' });
    // The analysis runs shortly after storing: wait until the API has learned all three.
    const want = { 'order.paid': 3, 'customer.created': 1, [evil]: 1 };
    let learned = [];
    for (let i = 0; i < 100; i += 1) {
      learned = (await adminGql('query($id: ID!) { endpoint(id: $id) { eventShapes { eventType samples updatedAt } } }', { id: sh.id })).endpoint.eventShapes;
      if (learned.length === 3 && learned.every((s) => want[s.eventType] === s.samples)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEq(JSON.stringify(learned.map((s) => [s.eventType, s.samples]).sort()), JSON.stringify(Object.entries(want).sort()), 'the API learned the three types');

    await page.reload();
    const rows = section.locator('.shape-list tbody tr');
    await rows.first().waitFor();
    const listedTypes = await rows.evaluateAll((rs) => rs.map((r) => [r.querySelector('.shape-pick').textContent, r.querySelector('.shape-samples').textContent]));
    // Most recently updated first, as the API's times order them.
    const byUpdate = learned.slice().sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt) || (a.eventType < b.eventType ? -1 : 1));
    assertEq(JSON.stringify(listedTypes), JSON.stringify(byUpdate.map((s) => [s.eventType, String(s.samples)])), 'each type with its exact sample count, newest first');
    // The hostile type is characters in a button, not an element.
    const evilButton = section.getByRole('button', { name: evil, exact: true });
    assertEq(await evilButton.textContent(), evil, 'a hostile type is shown as text');
    assertEq(await evilButton.evaluate((b) => b.children.length), 0, 'no element inside its button');
    assertEq(await section.locator('img').count(), 0, 'no <img> in the section');

    // One type's fields: path, types and presence, parents before their fields.
    await section.getByRole('button', { name: 'order.paid', exact: true }).click();
    const fields = section.locator('.shape-fields-wrap[data-type="order.paid"] .shape-fields tbody tr');
    await fields.first().waitFor();
    const got = await fields.evaluateAll((rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
    assertEq(JSON.stringify(got), JSON.stringify([
      ['amount', 'integer', 'required'],
      ['customer', 'object', 'required'],
      ['customer.email', 'string', 'optional (present in 1 of 3)'],
      ['customer.id', 'string', 'required'],
      ['id', 'string', 'required'],
      ['lines', 'array', 'optional (present in 1 of 3)'],
      ['lines[]', 'object', 'elements (in 1 of 1)'],
      ['lines[].qty', 'integer', 'required'],
      ['lines[].sku', 'string', 'required'],
      ['type', 'string', 'required'],
    ]), 'the fields of order.paid');
    assertEq(await section.locator('.shape-summary').evaluate((p) => p.firstChild.textContent), 'Learned from 3 captures, last on ', 'how many samples');
    assertEq(await section.locator('.shape-truncated').count(), 0, 'not truncated: no note');
    assertEq(await section.getByRole('button', { name: 'order.paid', exact: true }).getAttribute('aria-current'), 'true', 'the selected type is marked');
    assertEq(await page.evaluate(() => location.hash), `#/e/${sh.id}/settings?shape=order.paid`, 'the selection is in the address');
    await section.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => document.activeElement?.blur());
    await screenshot(page, 'event-shapes');
    await axeScan(page, 'the endpoint’s event shapes with a type selected');

    // The JSON Schema, downloaded under a name made of the endpoint's and the type's.
    const download = page.waitForEvent('download');
    await section.getByRole('button', { name: 'Download JSON Schema' }).click();
    const file = await download;
    assertEq(file.suggestedFilename(), 'shapes_e2e-order.paid.schema.json', 'the file name');
    const schema = JSON.parse(readFileSync(await file.path(), 'utf8'));
    assertEq(schema.$schema, 'https://json-schema.org/draft/2020-12/schema', '$schema');
    assertEq(JSON.stringify(Object.keys(schema.properties).sort()), JSON.stringify(['amount', 'customer', 'id', 'lines', 'type']), 'the top-level properties');
    assertEq(JSON.stringify(schema.required.slice().sort()), JSON.stringify(['amount', 'customer', 'id', 'type']), 'the required ones');
    assertEq(JSON.stringify(Object.keys(schema.properties.customer.properties).sort()), JSON.stringify(['email', 'id']), 'the customer’s properties');
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await section.getByRole('button', { name: 'Copy JSON Schema' }).click();
    await section.locator('.copy-status', { hasText: 'Copied' }).waitFor();
    assertEq(JSON.stringify(JSON.parse(await page.evaluate(() => navigator.clipboard.readText()))), JSON.stringify(schema), 'the copied schema is the downloaded one');

    // The hostile type selected: text in the heading too, and nothing ran.
    await evilButton.click();
    await section.locator('.shape-fields-wrap h3 code').waitFor();
    assertEq(await section.locator('.shape-fields-wrap h3 code').textContent(), evil, 'the hostile type is text in the heading');
    assertEq(await section.locator('img').count(), 0, 'still no <img>');
    assertEq(await page.evaluate(() => window.__xss2), undefined, 'nothing ran');

    // From the capture that changed the shape, a link opens this section on its type.
    await page.goto(`${base}/#/e/${sh.id}/c/${grown}`);
    const link = page.locator('.capture-event .ev-schema-shape a');
    await link.waitFor();
    assertEq(await link.textContent(), 'See the shape of order.paid', 'the link names the type');
    await link.click();
    await page.waitForFunction((id) => location.hash === `#/e/${id}/settings?shape=order.paid`, sh.id);
    await section.locator('.shape-fields-wrap[data-type="order.paid"]').waitFor();
    await page.waitForFunction(() => document.activeElement?.closest('.shape-fields-wrap') != null);
    assertEq(await section.getByRole('button', { name: 'order.paid', exact: true }).getAttribute('aria-current'), 'true', 'opened on that type');
    assertEq(await fields.count(), 10, 'with its fields');
  });

  await step('Responses: the “Fail twice then succeed” template answers 500, 500, 200; the list and the capture say so', async () => {
    // A fresh endpoint, never requested: ingest has no cached copy from before its rules.
    sc = (await adminGql('mutation { createEndpoint(input: {name: "scenarios-e2e"}) { id url } }')).createEndpoint;
    await page.goto(`${base}/#/e/${sc.id}/settings`);
    const section = page.locator('.settings-section', { has: page.getByRole('heading', { name: 'Responses', exact: true }) });
    await section.locator('.no-rules').waitFor();
    await section.getByRole('button', { name: 'Fail twice then succeed' }).click();
    await section.getByRole('button', { name: 'Save response rules' }).click();
    const rule = section.locator('.scenario-rule[data-rule="fail-twice"]');
    await rule.waitFor();
    await rule.locator('.rule-count').waitFor();
    assertEq(await rule.textContent(), 'fail-twice every request → 500, 500, 200 then stay0 requests counted', 'the rule in the list');
    const stored = (await adminGql('query($id: ID!) { endpoint(id: $id) { scenario { id answer { kind summary } } } }', { id: sc.id })).endpoint.scenario;
    assertEq(JSON.stringify(stored), JSON.stringify([{ id: 'fail-twice', answer: { kind: 'SEQUENCE', summary: '500, 500, 200 then stay' } }]), 'the rules the API keeps');

    await page.goto(`${base}/#/e/${sc.id}`);
    await page.locator('.empty-state .curl-example').waitFor();
    await waitLive();
    const sent = [];
    for (let i = 1; i <= 3; i += 1) {
      const r = await fetch(`${sc.url}/retry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"attempt":${i}}` });
      await r.arrayBuffer();
      sent.push({ status: r.status, id: r.headers.get('hookmetry-capture-id') });
    }
    assertEq(JSON.stringify(sent.map((s) => s.status)), '[500,500,200]', 'what the sender got');
    ids.answers = sent.map((s) => s.id);
    const badges = async () => {
      const out = [];
      for (const { id } of sent) {
        await rowFor(id).waitFor();
        const b = rowFor(id).locator('.ans-badge');
        out.push((await b.count()) ? [await b.textContent(), await b.getAttribute('title')] : null);
      }
      return JSON.stringify(out);
    };
    const want = JSON.stringify([
      ['answered 500', 'Answered 500: rule fail-twice, step 1'],
      ['answered 500', 'Answered 500: rule fail-twice, step 2'],
      null,
    ]);
    assertEq(await badges(), want, 'live rows: 500, 500 and no badge for the plain 200');
    await page.reload();
    assertEq(await badges(), want, 'the same rows read from the list query');
    const colours = await rowFor(sent[0].id).locator('.ans-badge').evaluate((b) => [getComputedStyle(b).color, getComputedStyle(b.closest('.row-meta').querySelector('.badge')).color]);
    assert(colours[0] !== colours[1], `a 500 is not in the neutral colour: ${colours}`);
    await openCapture(sent[0].id);
    assertEq(await page.locator('.answer-line').textContent(), 'Answer 500 · answered at once · rule fail-twice, step 1', 'the Answer line of the first');
    await openCapture(sent[2].id);
    assertEq(await page.locator('.answer-line').textContent(), 'Answer 200 · answered at once · rule fail-twice, step 3', 'the Answer line of the third');
  });

  await step('Responses: a bad edit names its field and changes nothing; reset counters starts the sequence over; cap and TTL', async () => {
    await page.goto(`${base}/#/e/${sc.id}/settings`);
    const section = page.locator('.settings-section', { has: page.getByRole('heading', { name: 'Responses', exact: true }) });
    const rule = section.locator('.scenario-rule[data-rule="fail-twice"]');
    await rule.locator('.rule-count', { hasText: '3 requests counted' }).waitFor();
    const editor = section.getByLabel('Rules (JSON, as updateEndpoint(scenario:) takes them)');
    const bad = '[\n  { "id": "fail-twice",\n    "answer": { "sequence": { "steps": [\n      { "status": 500 }, { "status": 600 } ] } } }\n]';
    await editor.fill(bad);
    await section.getByRole('button', { name: 'Save response rules' }).click();
    const error = section.locator('.field-error:not([hidden])');
    await error.waitFor();
    assertEq(await error.textContent(), 'scenario[0].answer.sequence.steps[1].status (line 4): must be between 200 and 599, got 600.', 'the error names the field and its line');
    await page.waitForFunction(() => document.activeElement?.matches('.scenario-editor') && document.activeElement.selectionEnd > document.activeElement.selectionStart);
    assertEq(await editor.evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd)), '600', 'the refused value is selected');
    assertEq(await editor.getAttribute('aria-invalid'), 'true', 'the editor is marked invalid');
    assertEq(await editor.inputValue(), bad, 'the editor keeps what was typed');
    const after = (await adminGql('query($id: ID!) { endpoint(id: $id) { scenario { id answer { summary } } counters { rules { ruleId count } } } }', { id: sc.id })).endpoint;
    assertEq(JSON.stringify(after), JSON.stringify({ scenario: [{ id: 'fail-twice', answer: { summary: '500, 500, 200 then stay' } }], counters: { rules: [{ ruleId: 'fail-twice', count: 3 }] } }), 'the refused edit changed nothing');

    await section.getByRole('button', { name: 'Reset counters…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset the counters?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Reset counters', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    assertEq(await page.evaluate(() => document.activeElement?.textContent), 'Reset counters…', 'focus is back on the button that opened the dialog');
    await rule.locator('.rule-count', { hasText: '0 requests counted' }).waitFor();
    const again = await fetch(`${sc.url}/retry`, { method: 'POST', body: '{"attempt":4}' });
    await again.arrayBuffer();
    assertEq(again.status, 500, 'after the reset the sequence starts at 500 again');

    // Captures are counted only while a cap is set, so a cap of 1 set now lets one more in.
    await section.getByLabel('Capture cap', { exact: true }).fill('1');
    await section.getByLabel('Time to live', { exact: true }).fill('2');
    await section.getByLabel('Time to live unit').selectOption({ label: 'hours' });
    await section.getByRole('button', { name: 'Save cap and time to live' }).click();
    await section.locator('.expiry-line', { hasText: '(in 2 h)' }).waitFor();
    assertEq(await page.locator('.endpoint-head .expiry-tag').textContent(), 'expires in 2 h', 'the header says when it expires');
    // Ingest read the endpoint for the request above and keeps it for its 2 s endpoint cache.
    await page.waitForTimeout(2500);
    const capped = await fetch(`${sc.url}/retry`, { method: 'POST', body: '{"attempt":5}' });
    await capped.arrayBuffer();
    assertEq(capped.status, 500, 'the first capture under the cap is stored (step 2 of the sequence)');
    const refused = await fetch(`${sc.url}/retry`, { method: 'POST', body: '{"attempt":6}' });
    await refused.arrayBuffer();
    assertEq(refused.status, 429, 'past the cap');
    await page.reload();
    await page.locator('.endpoint-head .cap-tag').waitFor();
    assertEq(await page.locator('.endpoint-head .head-tags').innerText().then((t) => t.replace(/\s+/g, ' ')), 'expires in 2 h cap reached (1/1)', 'the settings header');
    await section.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await screenshot(page, 'scenarios');
    await axeScan(page, 'endpoint settings with response rules');
    await page.goto(`${base}/#/e/${sc.id}`);
    await page.locator('.endpoint-head .expiry-tag', { hasText: 'expires in 2 h' }).waitFor();
    assertEq(await page.locator('.switchers select').nth(1).locator('option:checked').textContent(), 'scenarios-e2e (expires in 2 h)', 'the switcher says it too');
    // The words for other distances and for a past expiry, through the function the tags use
    // (an endpoint past its expiry is deleted within the expiry job's interval, too soon to look).
    const words = await page.evaluate(async () => {
      const src = [...document.querySelectorAll('link[rel="modulepreload"]')].map((l) => l.href).find((u) => u.endsWith('/views/expiry.js'));
      const { expiryWords } = await import(src);
      const at = (s) => expiryWords(new Date(Date.now() + s * 1000).toISOString());
      return [at(-1), at(45.2), at(25 * 60 + 10), at(89 * 60 + 10), at(3 * 3600 + 60), at(3 * 86400 + 60), expiryWords(null)];
    });
    assertEq(JSON.stringify(words), JSON.stringify(['expired', 'expires in 45 s', 'expires in 25 min', 'expires in 89 min', 'expires in 3 h', 'expires in 3 d', null]), 'expiry in words');
  });

  await step('Responses: rules of every kind go back into the editor as they were; saving them unchanged keeps them and their counts', async () => {
    const evil = '<img src=x onerror="window.__xss3=1">';
    const rules = [
      { id: 'seq', method: 'POST', pathPrefix: '/a', header: { name: 'X-Kind', contains: evil }, eventTypes: ['invoice.*', 'charge.succeeded'],
        answer: { sequence: { steps: [{ status: 500, body: '<b>down</b>', headers: [{ name: 'Retry-After', value: '5' }] }, { status: 200, delayMs: 150 }], then: 'REPEAT' } } },
      { id: 'gone', pathPrefix: '/g', answer: { goneAfter: { count: 2, before: { status: 201 }, after: { status: 410, body: 'gone' } } } },
      { id: 'slow', header: { name: 'X-Slow', contains: '' }, answer: { latency: { reply: { status: 202 }, points: [{ percentile: 50, ms: 10 }, { percentile: 100, ms: 20 }] } } },
      { id: 'mix', answer: { mix: { choices: [{ percent: 12.5, reply: { status: 503 } }, { percent: 5, reply: { timeout: true, delayMs: 0 } }], rest: { status: 204 } } } },
      { id: 'fixed', answer: { fixed: { status: 418, headers: [{ name: 'Content-Type', value: 'text/plain' }], body: 'teapot', delayMs: 5 } } },
    ];
    const reply = 'status headers { name value } body delayMs timeout';
    const read = `query($id: ID!) { endpoint(id: $id) { scenario { id method pathPrefix header { name contains } eventTypes answer { kind summary
      fixed { ${reply} } sequence { then steps { ${reply} } } mix { choices { percent reply { ${reply} } } rest { ${reply} } }
      goneAfter { count before { ${reply} } after { ${reply} } } latency { reply { ${reply} } points { percentile ms } } } }
      counters { rules { ruleId count } } } }`;
    const rt = (await adminGql('mutation { createEndpoint(input: {name: "scenarios-roundtrip"}) { id url } }')).createEndpoint;
    await adminGql('mutation($id: ID!, $s: [ScenarioRuleInput!]) { updateEndpoint(input: {id: $id, scenario: $s}) { id } }', { id: rt.id, s: rules });
    const gone = await fetch(`${rt.url}/g`, { method: 'POST', body: 'x' });
    await gone.arrayBuffer();
    assertEq(gone.status, 201, 'the gone-after rule answered');
    const before = (await adminGql(read, { id: rt.id })).endpoint;
    assertEq(JSON.stringify(before.counters), JSON.stringify({ rules: [{ ruleId: 'gone', count: 1 }] }), 'one request counted');

    await page.goto(`${base}/#/e/${rt.id}/settings`);
    const section = page.locator('.settings-section', { has: page.getByRole('heading', { name: 'Responses', exact: true }) });
    await section.locator('.scenario-rule[data-rule="gone"] .rule-count', { hasText: '1 request counted' }).waitFor();
    assertEq(JSON.stringify(await section.locator('.scenario-rule .rule-when').allTextContents()), JSON.stringify([
      `method POST and path starts with /a and header X-Kind contains “${evil}” and event type invoice.* or charge.succeeded`,
      'path starts with /g', 'header X-Slow present', 'every request', 'every request',
    ]), 'each rule’s conditions in words');
    assertEq(JSON.stringify(await section.locator('.scenario-rule .rule-summary').allTextContents()), JSON.stringify(before.scenario.map((r) => r.answer.summary)), 'each rule’s summary');
    assertEq(await section.locator('img, b').count(), 0, 'rule data is text, not markup');
    assertEq(await page.evaluate(() => window.__xss3), undefined, 'nothing ran');
    await section.getByRole('button', { name: 'Save response rules' }).click();
    await section.locator('.form-status', { hasText: 'Saved 5 rules.' }).waitFor();
    const after = (await adminGql(read, { id: rt.id })).endpoint;
    assertEq(JSON.stringify(after), JSON.stringify(before), 'saved unchanged: the same rules, and the count kept');
  });

  await step('a dropped WebSocket shows a reconnect notice, then recovers and loads what was missed', async () => {
    watch.expect(/WebSocket/);
    await page.goto(`${base}/#/e/${epId}`);
    await page.locator('.vl-row').first().waitFor();
    await waitLive();
    await context.setOffline(true);
    await page.evaluate(() => window.__sockets.forEach((s) => s.close()));
    const notice = page.locator('.conn-notice[data-kind="warn"]');
    await notice.waitFor();
    assert((await notice.textContent()).startsWith('Live updates are interrupted'), `notice: ${await notice.textContent()}`);
    assertEq(await page.locator('.live-badge').getAttribute('data-state'), 'reconnecting', 'badge says reconnecting');
    // Captured while the page is cut off: must show up after the reconnect.
    const missed = await sendWebhook(`${epUrl}/while-offline`, { headers: [['Content-Type', 'text/plain']], body: 'sent while offline' });
    await page.waitForTimeout(1200);
    assertEq(await rowFor(missed).count(), 0, 'nothing arrives while offline');
    const tOnline = Date.now();
    await context.setOffline(false);
    await page.locator('.live-badge[data-state="live"]').waitFor({ timeout: 20_000 });
    console.log(`     live again ${Date.now() - tOnline} ms after the network came back`);
    await page.locator('.conn-notice[data-kind="ok"]', { hasText: 'Reconnected' }).waitFor();
    await rowFor(missed).waitFor({ timeout: 5000 });
    await page.waitForTimeout(300);
    const [, ms] = await sendAndSee('/after-reconnect', { headers: [['Content-Type', 'text/plain']], body: 'back' });
    assert(ms < LIVE_WITHIN_MS, `after the reconnect a capture took ${ms} ms`);
  });

  await step('10,000 captures: paged in by scrolling, never more than a screenful of rows in the DOM', async () => {
    const gql = adminGql;
    const ep = (await gql('mutation { createEndpoint(input: {name: "bulk-10k"}) { id url } }')).createEndpoint;
    let next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < BULK) {
        const n = next++;
        const r = await fetch(`${ep.url}/bulk/${n}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"n":${n}}` });
        assertEq(r.status, 200, 'ingest status');
        await r.arrayBuffer();
      }
    }));
    console.log(`     sent ${BULK} captures in ${Date.now() - t0} ms`);
    await page.goto(`${base}/#/e/${ep.id}`);
    const tFirst = Date.now();
    await page.locator('.vl-row').first().waitFor();
    console.log(`     first page shown in ${Date.now() - tFirst} ms`);
    const status = page.locator('.list-status');
    const tAll = Date.now();
    let maxRows = 0;
    while (!(await status.textContent()).startsWith(`All ${BULK.toLocaleString('en')} captures`)) {
      assert(Date.now() - tAll < 120_000, `not every capture was listed after 120 s: ${await status.textContent()}`);
      const rows = await page.evaluate(() => {
        const v = document.querySelector('.vl-viewport');
        v.scrollTop = v.scrollHeight;
        return document.querySelectorAll('.vl-row').length;
      });
      maxRows = Math.max(maxRows, rows);
      await page.waitForTimeout(50);
    }
    console.log(`     all ${BULK} listed after ${Date.now() - tAll} ms of scrolling; at most ${maxRows} rows in the DOM`);
    assert(maxRows <= 80, `${maxRows} rows were in the DOM at once`);
    // A jump to the middle renders within a frame or two.
    const jump = await page.evaluate(() => new Promise((resolve) => {
      const v = document.querySelector('.vl-viewport');
      const t = performance.now();
      v.scrollTop = v.scrollHeight / 2;
      requestAnimationFrame(() => requestAnimationFrame(() => resolve({ ms: performance.now() - t, rows: document.querySelectorAll('.vl-row').length, first: document.querySelector('.vl-row')?.getAttribute('aria-posinset') })));
    }));
    assert(jump.ms < 200 && jump.rows <= 80 && Number(jump.first) > BULK * 0.4, `jump to the middle: ${JSON.stringify(jump)}`);
    assertEq(await page.locator('.vl-viewport').getAttribute('aria-label'), 'Captures of bulk-10k', 'list label');
    assertEq(await page.locator('.vl-row').first().getAttribute('aria-setsize'), String(BULK), 'aria-setsize is the total');
    // Keyboard: End goes to the oldest capture, which is then rendered and open.
    await page.locator('.vl-viewport').focus();
    await page.keyboard.press('End');
    await page.locator(`.vl-row.selected[aria-posinset="${BULK}"]`).waitFor();
    await page.locator('.capture-head h2').waitFor();
    // Live captures still arrive at once on top of 10,000.
    await page.keyboard.press('Home');
    await waitLive();
    const t1 = Date.now();
    const id = await sendWebhook(`${ep.url}/on-top`, { headers: [['Content-Type', 'text/plain']], body: 'on top' });
    await rowFor(id).waitFor();
    const ms = Date.now() - t1;
    assert(ms < LIVE_WITHIN_MS, `a live capture over 10,000 took ${ms} ms`);
  });

  await step('the dark colour scheme passes axe-core too', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${base}/#/e/${epId}/c/${ids.valid}`);
    await page.locator('.capture-head h2').waitFor();
    await page.locator('.vl-row').first().waitFor();
    await axeScan(page, 'the capture list and detail in the dark scheme');
    await page.getByRole('tab', { name: /Replay/ }).click();
    await page.locator('.replay-form').waitFor();
    await axeScan(page, 'the replay panel in the dark scheme');
    await page.goto(`${base}/#/e/${epId}/settings`);
    await page.getByRole('heading', { name: 'Signature verification' }).waitFor();
    await axeScan(page, 'endpoint settings in the dark scheme');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  await step('phone width: one column, no horizontal scrolling, list and detail usable', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/e/${epId}`);
    await page.reload();
    await page.locator('.vl-row').first().waitFor();
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `the list is ${overflow}px wider than the phone`);
    // The verdict badge is never the part of a row that is cut off.
    const cut = await page.locator('.vl-row .row-meta').evaluateAll((metas) => metas
      .filter((m) => m.querySelector('.badge').getBoundingClientRect().right > m.getBoundingClientRect().right + 0.5)
      .map((m) => m.textContent));
    assertEq(JSON.stringify(cut), '[]', 'rows whose badge is cut off at phone width');
    await screenshot(page, 'phone-list');
    await axeScan(page, 'the phone-width list');
    await rowFor(ids.json).click();
    await page.locator('.capture-head h2').waitFor();
    assert(!(await page.locator('.list-pane').isVisible()), 'the open capture replaces the list');
    const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow2 <= 0, `the detail is ${overflow2}px wider than the phone`);
    await page.getByRole('button', { name: 'Close capture, back to the list' }).click();
    await page.locator('.list-pane').waitFor({ state: 'visible' });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('sign out clears the token and everything else the page remembered', async () => {
    const ours = () => page.evaluate(() => [sessionStorage, localStorage].flatMap((st) => Object.keys(st)).filter((k) => k.startsWith('hookmetry.')).sort());
    const before = await ours();
    assert(before.some((k) => k.startsWith('hookmetry.replayTarget.')) && before.some((k) => k.startsWith('hookmetry.lastEndpoint.')), `remembered before signing out: ${before}`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Hookmetry' }).waitFor();
    assertEq(JSON.stringify(await ours()), '[]', 'no Hookmetry key left in either storage');
  });

  await step('a viewer (kept signed in) sees but cannot change; revoking its token signs the page out with a sentence', async () => {
    const gql = adminGql;
    const created = (await gql('mutation { createToken(input: {role: VIEWER, name: "e2e-watcher"}) { secret token { id } } }')).createToken;
    await page.getByLabel('API token').fill(created.secret);
    await page.getByLabel('Keep me signed in on this device').check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.topbar').waitFor();
    const stored = await page.evaluate(() => [sessionStorage.getItem('hookmetry.token'), localStorage.getItem('hookmetry.token')]);
    assertEq(JSON.stringify(stored), JSON.stringify([null, created.secret]), '"keep me signed in" uses localStorage only');
    await page.goto(`${base}/#/e/${epId}/c/${ids.invalid}/replay`);
    await page.reload();
    await page.getByText('Replaying needs the editor role').waitFor();
    assertEq(await page.getByRole('button', { name: 'Replay', exact: true }).count(), 0, 'no replay button for a viewer');
    assertEq(await page.getByRole('button', { name: /Send a test event/ }).count(), 0, 'no “Send a test event” for a viewer');
    const refused = await (await fetch(`${base}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${created.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation($e: ID!) { sendTestEvent(input: {endpointId: $e, provider: "stripe", event: "payment_intent.succeeded"}) { captureId } }', variables: { e: epId } }) })).json();
    assertEq(refused.errors?.[0]?.extensions?.code, 'FORBIDDEN', 'the API refuses a viewer’s test event too');
    assert(await page.locator('.delivery').count() >= 2, 'a viewer sees the deliveries');
    assertEq(await page.getByRole('link', { name: '+ New endpoint' }).isVisible(), false, 'no "New endpoint" for a viewer');
    // Responses: the rules, counters and expiry, and nothing to press or type in.
    await page.goto(`${base}/#/e/${sc.id}/settings`);
    const responses = page.locator('.settings-section', { has: page.getByRole('heading', { name: 'Responses', exact: true }) });
    await responses.locator('.scenario-rule[data-rule="fail-twice"] .rule-count').waitFor();
    assertEq(await responses.locator('.counter-captures').textContent(), '1 of 1 capture accepted since creation or the last reset · cap reached (1/1).', 'a viewer sees the counters');
    assertEq(await responses.locator('button, input, textarea, select').count(), 0, 'no edit control for a viewer');
    assertEq(await responses.locator('dd').allTextContents().then((x) => x.join('|')), '1|2 hours from creation', 'the cap and TTL as text');
    await page.goto(`${base}/#/e/${epId}`);
    await page.locator('.vl-row').first().waitFor();
    await gql('mutation($id: ID!) { revokeToken(input: {id: $id}) { id } }', { id: created.token.id });
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const alert = page.locator('.signin-form p[role="alert"]');
    await alert.waitFor();
    assertEq(await alert.textContent(), 'You were signed out: the token is unknown or revoked.', 'sign-out message');
    const left = await page.evaluate(() => [sessionStorage.getItem('hookmetry.token'), localStorage.getItem('hookmetry.token')]);
    assertEq(JSON.stringify(left), '[null,null]', 'the revoked token is forgotten');
    watch.check();
  });

  done();
  await browser.close();
  await receiver.close();
  process.exit(0);
} catch (e) {
  console.error(e instanceof Error ? e.stack || e.message : e);
  try {
    await page.screenshot({ path: '/tmp/hookmetry-ui-e2e-failure.png', fullPage: true });
    console.error('screenshot of the failure: /tmp/hookmetry-ui-e2e-failure.png');
  } catch {
    // the browser may be gone
  }
  if (watch.problems.length) console.error(`page problems:\n  ${watch.problems.join('\n  ')}`);
  await browser.close().catch(() => {});
  await receiver.close().catch(() => {});
  process.exit(1);
}
