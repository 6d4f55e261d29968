// portal.mjs drives the web portal in the system's Chromium, one step of
// cmd/airlock/browser_test.go at a time:
//
//	node portal.mjs STEP JSON
//
// STEP is reserve, update, confirm, viewer, redeem, allocate or
// nearExpiry; JSON holds what the step needs (see
// the Options type in browser_test.go). The step prints one line of JSON
// on standard output, {"ok":true,...} with what it saw, and exits 0; any
// failure is printed on standard error, with exit status 1. The Go test
// decides what is right: this script reports, and only fails when the
// page cannot be driven at all (an element never appears, a wait times
// out).
//
// playwright-core is loaded from opts.modules, the node_modules folder
// the Go test installed with npm ci outside the repository.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [step, json] = process.argv.slice(2);
const opts = JSON.parse(json);
const require = createRequire(path.join(opts.modules, 'noop.js'));
const { chromium } = require('playwright-core');

const shots = [];

// shot saves a screenshot of the whole page as NAME.png in the artifacts
// folder.
async function shot(page, name) {
  const file = path.join(opts.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

// audit checks the accessibility basics of the page shown: every visible
// form control has an accessible name, there is exactly one h1, and the
// document's language is set. It returns the problems found, each naming
// the page.
async function audit(page, name) {
  const problems = await page.evaluate(() => {
    const out = [];
    const text = (el) => (el ? el.textContent.trim() : '');
    const nameOf = (el) => {
      const by = el.getAttribute('aria-labelledby');
      if (by) {
        return by.split(/\s+/).map((id) => text(document.getElementById(id))).join(' ').trim();
      }
      const aria = (el.getAttribute('aria-label') || '').trim();
      if (aria) return aria;
      const labels = el.labels ? Array.from(el.labels).map(text).join(' ').trim() : '';
      if (labels) return labels;
      return (el.getAttribute('title') || '').trim();
    };
    for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
      if (!el.checkVisibility()) continue;
      if (!nameOf(el)) out.push(`${el.tagName.toLowerCase()}#${el.id || '?'} name=${el.name || '?'} has no label`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!el.checkVisibility()) continue;
      if (!text(el) && !nameOf(el)) out.push(`${el.tagName.toLowerCase()} ${el.outerHTML.slice(0, 80)} has no text`);
    }
    const h1 = document.querySelectorAll('h1').length;
    if (h1 !== 1) out.push(`${h1} h1 elements, want 1`);
    if (!document.documentElement.lang) out.push('no lang on <html>');
    return out;
  });
  return problems.map((p) => `${name}: ${p}`);
}

// tabTo presses Tab until the element loc is focused, at most max times,
// and fails if it never is: the page can then not be used without a
// mouse.
async function tabTo(page, loc, what, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await loc.evaluate((el) => el === document.activeElement)) return i + 1;
  }
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.outerHTML.slice(0, 120));
  throw new Error(`${what} never got the focus in ${max} presses of Tab (focus on ${focused})`);
}

// signIn opens the sign-in page and signs in; it returns the page after
// the redirect.
async function signIn(page, email, password, name) {
  await page.goto(opts.url + '/signin');
  const problems = await audit(page, 'sign-in');
  if (name) await shot(page, name);
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/signin')),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return problems;
}

// signedIn signs in unless the session the step started with (from
// opts.state) is still in force: one person signs in once for all their
// steps, as a person does, and stays within the sign-in rate limit of
// their account.
async function signedIn(page) {
  await page.goto(opts.url + '/orgs');
  if (new URL(page.url()).pathname !== '/signin') return [];
  return signIn(page, opts.email, opts.password);
}

// banner reads the current-organization banner, or '' when the page has
// none.
async function banner(page) {
  const b = page.getByRole('region', { name: 'Current organization' });
  if ((await b.count()) === 0) return '';
  return (await b.locator('#org-name').textContent()).trim();
}

// reserve: the customer administrator signs in, opens Licenses, then
// with the keyboard alone goes to Reserve, pastes the request code,
// reviews and reserves it, and downloads the authorization file.
async function reserve(page) {
  const out = { problems: [] };
  out.problems.push(...(await signIn(page, opts.email, opts.password, 'signin')));
  // A person of one organization lands on its licenses; anyone else
  // picks it on the switcher.
  if (new URL(page.url()).pathname === '/orgs') {
    await page.getByRole('link', { name: opts.org, exact: true }).click();
  }
  await page.waitForURL(`**/orgs/${opts.org}/licenses`);
  out.landed = new URL(page.url()).pathname;
  out.banner = await banner(page);
  out.problems.push(...(await audit(page, 'licenses')));
  await shot(page, 'licenses');

  // Keyboard only from here: focus starts at the top of the page.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const nav = page.getByRole('navigation', { name: `Pages of ${opts.org}` });
  out.tabs = {};
  out.tabs.reserveLink = await tabTo(page, nav.getByRole('link', { name: 'Reserve', exact: true }), 'the Reserve link');
  await Promise.all([page.waitForURL(`**/orgs/${opts.org}/reserve`), page.keyboard.press('Enter')]);
  out.reserveBanner = await banner(page);
  out.problems.push(...(await audit(page, 'reserve')));
  const textarea = page.getByLabel('Request code', { exact: true });
  out.tabs.textarea = await tabTo(page, textarea, 'the Request code text box');
  await page.keyboard.insertText(opts.request); // what a paste types
  await shot(page, 'reserve');
  out.tabs.review = await tabTo(page, page.getByRole('button', { name: 'Review the request' }), 'the Review the request button');
  await Promise.all([page.waitForURL(`**/orgs/${opts.org}/reserve/review`), page.keyboard.press('Enter')]);
  out.review = (await page.locator('main').innerText()).trim();
  out.problems.push(...(await audit(page, 'review')));
  await shot(page, 'review');

  const reserveButton = page.getByRole('button', { name: 'Reserve and sign the authorization code' });
  out.tabs.reserve = await tabTo(page, reserveButton, 'the Reserve and sign button');
  await Promise.all([page.waitForURL((u) => u.pathname === `/orgs/${opts.org}/reserve`), page.keyboard.press('Enter')]);
  await page.getByRole('heading', { level: 1, name: 'Reserved' }).waitFor();
  out.reserved = (await page.locator('main').innerText()).trim();
  out.typed = await page.getByLabel('Authorization code: type or paste it into the instance').inputValue();
  out.problems.push(...(await audit(page, 'reserved')));
  await shot(page, 'reserved');

  const download = page.getByRole('button', { name: 'Download the authorization file' });
  out.tabs.download = await tabTo(page, download, 'the Download button');
  const [file] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  out.filename = file.suggestedFilename();
  await file.saveAs(opts.download);
  return out;
}

// confirm: the administrator signs in again, opens the confirmation page
// from the banner's navigation and enters the confirmation code.
async function confirm(page) {
  const out = { problems: [] };
  out.problems.push(...(await signedIn(page)));
  await page.goto(`${opts.url}/orgs/${opts.org}/licenses`);
  await page.getByRole('navigation', { name: `Pages of ${opts.org}` }).getByRole('link', { name: 'Enter a confirmation code' }).click();
  await page.waitForURL(`**/orgs/${opts.org}/confirm`);
  out.problems.push(...(await audit(page, 'confirm')));
  await page.getByLabel('The confirmation code', { exact: true }).fill(opts.code);
  await shot(page, 'confirm');
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/orgs/${opts.org}/confirm`),
    page.getByRole('button', { name: 'Enter the confirmation code' }).click(),
  ]);
  await page.getByRole('heading', { level: 1 }).waitFor();
  out.heading = (await page.getByRole('heading', { level: 1 }).textContent()).trim();
  out.banner = await banner(page);
  out.applied = (await page.locator('main').innerText()).trim();
  out.problems.push(...(await audit(page, 'confirmed')));
  await shot(page, 'confirmed');
  return out;
}

// viewer: a viewer signs in, looks for the Reserve link, opens the
// Reserve page by its address, and another organization's licenses.
async function viewer(page) {
  const out = { problems: [] };
  out.problems.push(...(await signIn(page, opts.email, opts.password)));
  await page.goto(`${opts.url}/orgs`);
  out.orgs = await page.locator('main ul.orgs a').allTextContents();
  out.problems.push(...(await audit(page, 'viewer organizations')));
  const lic = await page.goto(`${opts.url}/orgs/${opts.org}/licenses`);
  out.licensesStatus = lic.status();
  out.banner = await banner(page);
  out.reserveLinks = await page.getByRole('link', { name: 'Reserve', exact: true }).count();
  out.problems.push(...(await audit(page, 'viewer licenses')));
  await shot(page, 'viewer-licenses');

  const res = await page.goto(`${opts.url}/orgs/${opts.org}/reserve`);
  out.reserveStatus = res.status();
  out.reserveHeading = (await page.getByRole('heading', { level: 1 }).textContent()).trim();
  out.reserveAlert = (await page.getByRole('alert').allTextContents()).join(' ').trim();
  out.reserveForms = await page.getByLabel('Request code').count();
  out.problems.push(...(await audit(page, 'viewer reserve')));
  await shot(page, 'viewer-reserve-refused');

  const other = await page.goto(`${opts.url}/orgs/${opts.otherOrg}/licenses`);
  out.otherStatus = other.status();
  out.otherHeading = (await page.getByRole('heading', { level: 1 }).textContent()).trim();
  out.otherText = (await page.locator('main').innerText()).trim();
  out.otherBanner = await banner(page);
  out.problems.push(...(await audit(page, 'viewer other organization')));
  await shot(page, 'viewer-other-org-refused');
  return out;
}

// orgPage signs in if need be and opens the organization's page NAME from the
// banner's navigation; it returns the accessibility problems seen.
async function orgPage(page, name, path) {
  const problems = await signedIn(page);
  await page.goto(`${opts.url}/orgs/${opts.org}/licenses`);
  await page.getByRole('navigation', { name: `Pages of ${opts.org}` }).getByRole('link', { name, exact: true }).click();
  await page.waitForURL(`**/orgs/${opts.org}/${path}`);
  return problems;
}

// submit clicks the button named name and waits for the page the form
// posts to.
async function submit(page, name) {
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().frame() === page.mainFrame()),
    page.getByRole('button', { name, exact: true }).click(),
  ]);
  await page.getByRole('heading', { level: 1 }).waitFor();
}

// mainText returns the page's main text and the h1.
async function mainText(page) {
  return {
    heading: (await page.getByRole('heading', { level: 1 }).textContent()).trim(),
    text: (await page.locator('main').innerText()).trim(),
  };
}

// update: the administrator opens the instance from Instances, changes
// the count of a tag, reviews the update, issues it, and downloads the
// authorization file.
async function update(page) {
  const out = { problems: await orgPage(page, 'Instances', 'instances') };
  out.problems.push(...(await audit(page, 'instances')));
  await shot(page, 'instances');
  await page.getByRole('link', { name: opts.udi }).click();
  await page.getByRole('heading', { level: 2, name: 'Change the reservation' }).waitFor();
  out.instance = (await page.locator('main').innerText()).trim();
  out.problems.push(...(await audit(page, 'instance')));
  await shot(page, 'instance');
  await page.getByLabel(`${opts.tag} (now`, { exact: false }).fill(String(opts.count));
  await submit(page, 'Review the update');
  out.review = await mainText(page);
  out.problems.push(...(await audit(page, 'update review')));
  await shot(page, 'update-review');
  await submit(page, 'Issue the updated authorization code');
  out.updated = await mainText(page);
  out.typed = await page.getByLabel('Authorization code: type or paste it into the instance').inputValue();
  out.problems.push(...(await audit(page, 'updated')));
  await shot(page, 'updated');
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the authorization file' }).click()]);
  out.filename = file.suggestedFilename();
  await file.saveAs(opts.download);
  return out;
}

// redeem: the administrator redeems a license key into a product's
// wallet, through the review.
async function redeem(page) {
  const out = { problems: await orgPage(page, 'Wallet', 'wallet') };
  out.problems.push(...(await audit(page, 'wallet')));
  await page.getByLabel('Into the wallet of the product').selectOption(opts.product);
  await page.getByLabel('License key', { exact: true }).fill(opts.key);
  await shot(page, 'wallet');
  await submit(page, 'Review the key');
  out.review = await mainText(page);
  out.problems.push(...(await audit(page, 'redeem review')));
  await shot(page, 'redeem-review');
  await submit(page, 'Redeem the key');
  out.redeemed = await mainText(page);
  out.problems.push(...(await audit(page, 'redeemed')));
  await shot(page, 'redeemed');
  return out;
}

// allocate: the administrator allocates activation codes to a fleet
// product, through the review and its irreversible warning.
async function allocate(page) {
  const out = { problems: await orgPage(page, 'Activation codes', 'activation') };
  out.problems.push(...(await audit(page, 'activation codes')));
  await shot(page, 'activation-codes');
  await page.getByLabel('Product', { exact: true }).selectOption(opts.product);
  await page.getByLabel('Number of codes', { exact: true }).fill(String(opts.count));
  await submit(page, 'Review the allocation');
  out.review = await mainText(page);
  out.warning = (await page.getByRole('alert').allTextContents()).join(' ').trim();
  out.problems.push(...(await audit(page, 'allocation review')));
  await shot(page, 'allocation-review');
  await submit(page, `Allocate ${opts.count} codes to ${opts.product} for good`);
  out.allocated = await mainText(page);
  out.problems.push(...(await audit(page, 'allocated')));
  await shot(page, 'allocated');
  return out;
}

// nearExpiry: the administrator opens Devices, then the devices near
// expiry, and reads the list.
async function nearExpiry(page) {
  const out = { problems: await orgPage(page, 'Devices', 'devices') };
  out.problems.push(...(await audit(page, 'devices')));
  await shot(page, 'devices');
  await page.getByRole('link', { name: 'Devices near expiry' }).first().click();
  await page.waitForURL(`**/orgs/${opts.org}/devices/near-expiry**`);
  out.list = await mainText(page);
  out.rows = await page.locator('table#devices tbody tr').allInnerTexts();
  out.charts = await page.locator('main svg[role=img]').count();
  out.problems.push(...(await audit(page, 'near expiry')));
  await shot(page, 'near-expiry');
  return out;
}

const steps = { reserve, update, confirm, viewer, redeem, allocate, nearExpiry };
if (!steps[step]) {
  console.error(`portal.mjs: unknown step ${JSON.stringify(step)}`);
  process.exit(2);
}

// Chromium trusts the service's self-signed certificate by the hash of
// its public key (opts.spki, base64 of SHA-256), as an instance pins
// tls.crt: any other certificate is still an error. --no-sandbox: the
// tests run as root in CI, where Chromium's sandbox refuses to start.
const browser = await chromium.launch({
  executablePath: opts.chromium,
  args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${opts.spki}`],
});
let status = 0;
try {
  // opts.state keeps the person's cookies from one step to the next.
  const state = opts.state && existsSync(opts.state) ? opts.state : undefined;
  const context = await browser.newContext({ acceptDownloads: true, storageState: state });
  context.setDefaultTimeout(opts.timeoutMs);
  context.setDefaultNavigationTimeout(opts.timeoutMs);
  const page = await context.newPage();
  try {
    const out = await steps[step](page);
    if (opts.state) await context.storageState({ path: opts.state });
    out.ok = true;
    out.screenshots = shots;
    process.stdout.write(JSON.stringify(out) + '\n');
  } catch (err) {
    status = 1;
    console.error(`portal.mjs ${step}: ${err.stack || err}`);
    try {
      console.error(`at ${page.url()}:\n${(await page.locator('body').innerText({ timeout: 5000 })).slice(0, 2000)}`);
      await shot(page, `failed-${step}`);
      console.error(`screenshot: ${shots[shots.length - 1]}`);
    } catch {
      // the page is gone: the error above says why
    }
  }
} finally {
  await browser.close();
}
process.exit(status);
