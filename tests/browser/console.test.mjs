// The Cloud Console's API Keys page in a real browser (Debian's headless Chromium, driven by
// playwright-core), against the running local stack, following the product docs step by step.
//
// Run by `tests/tests/http/browser.rs` (part of `make test`), which starts the stack and passes:
//   VP_BASE_URL      the stack, e.g. http://127.0.0.1:9000
//   VP_CONSOLE_URL   the page signed in (what `vpctl console --account …` prints)
//   VP_EXPIRED_URL   the page with an expired console token in its fragment
//   VP_SHOTS         where each step's screenshot goes (a test artefact)
//   VP_OTHER_ACCOUNT_TOKEN, VP_SAME_ACCOUNT_TOKEN
//                    valid console tokens, for another account and for the signed-in one
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdirSync } from 'node:fs'
import { createHash, createPublicKey, createSign } from 'node:crypto'
import { join } from 'node:path'
import { createServer } from 'node:http'
import { chromium } from 'playwright-core'

const BASE = process.env.VP_BASE_URL
const SIGNED_IN = process.env.VP_CONSOLE_URL
const EXPIRED = process.env.VP_EXPIRED_URL
const SHOTS = process.env.VP_SHOTS
const OTHER_TOKEN = process.env.VP_OTHER_ACCOUNT_TOKEN
const SAME_TOKEN = process.env.VP_SAME_ACCOUNT_TOKEN
for (const [name, value] of Object.entries({ VP_BASE_URL: BASE, VP_CONSOLE_URL: SIGNED_IN, VP_EXPIRED_URL: EXPIRED, VP_SHOTS: SHOTS, VP_OTHER_ACCOUNT_TOKEN: OTHER_TOKEN, VP_SAME_ACCOUNT_TOKEN: SAME_TOKEN })) {
  if (!value) throw new Error(`${name} is not set: run this through tests/tests/http/browser.rs`)
}
mkdirSync(SHOTS, { recursive: true })

let browser
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new'],
  })
})
after(async () => browser?.close())

/** A fresh tab that fails the test on any script error, CSP violation or alert(). */
async function openPage(url, { width = 1100, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE })
  const page = await context.newPage()
  page.problems = []
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) page.problems.push(`console: ${m.text()}`)
  })
  page.on('dialog', async (d) => {
    page.problems.push(`a script opened a ${d.type()} dialog: ${d.message()}`)
    await d.dismiss()
  })
  await page.goto(url)
  return page
}

const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

async function openSession(key) {
  const response = await fetch(`${BASE}/api/v1/sessions`, { method: 'POST', headers: { Authorization: `Bearer ${key}` } })
  return { status: response.status, body: await response.json() }
}

// By the Name cell's own text (on phones each cell also shows its column label).
function row(page, name) {
  return page.locator('#keys tr').filter({ has: page.locator('td[data-label="Name"]').getByText(name, { exact: true }) })
}

async function createKey(page, name) {
  await page.getByRole('button', { name: 'Add Key' }).click()
  const dialog = page.getByRole('dialog', { name: 'Add Key' })
  await dialog.getByLabel('Name').fill(name)
  await dialog.getByRole('button', { name: 'Create Key' }).click()
  const created = page.getByRole('dialog', { name: 'Your new API key' })
  await created.waitFor()
  return (await created.locator('#created-key').textContent()).trim()
}

test('the docs walk-through: add, copy, use, see last used, delete, revoked at once', async () => {
  // Sign in with the URL vpctl console printed; the token leaves the address bar at once.
  const page = await openPage(SIGNED_IN)
  await page.getByRole('heading', { name: 'API Keys' }).waitFor()
  assert.ok(!page.url().includes('token='), `the token stays out of the address bar: ${page.url()}`)
  assert.ok(await page.evaluate(() => sessionStorage.getItem('visionpipe.consoleToken')), 'kept in sessionStorage')
  await page.locator('#credits', { hasText: /^\d+$/ }).waitFor()
  const creditsBefore = Number(await page.locator('#credits').textContent())
  await shot(page, '01-signed-in')

  // Add Key → a dialog with a field labelled Name and a button Create Key.
  await page.getByRole('button', { name: 'Add Key' }).click()
  const dialog = page.getByRole('dialog', { name: 'Add Key' })
  await dialog.getByLabel('Name').fill('Production')
  await shot(page, '02-add-key-dialog')
  await dialog.getByRole('button', { name: 'Create Key' }).click()

  // The key, shown once, with Copy and the warning.
  const created = page.getByRole('dialog', { name: 'Your new API key' })
  await created.waitFor()
  const key = (await created.locator('#created-key').textContent()).trim()
  assert.match(key, /^vp_live_[0-9a-f]{64}$/)
  assert.match(await created.textContent(), /won't be able to see it again/)
  await created.getByRole('button', { name: 'Copy' }).click()
  await created.getByText('Copied to the clipboard.').waitFor()
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key, 'Copy put the key on the clipboard')
  await shot(page, '03-key-shown-once')
  await created.getByRole('button', { name: 'Done' }).click()
  assert.ok(!(await page.content()).includes(key), 'the plaintext key left the DOM with its dialog')

  // The table: Name, Key prefix (first 12 characters), Last used "Never", Sessions today 0,
  // Created.
  const production = row(page, 'Production')
  await production.waitFor()
  const cells = await production.locator('td').allTextContents()
  assert.equal(cells[1], key.slice(0, 12))
  assert.equal(cells[2], 'Never')
  assert.equal(cells[3], '0', 'no session today yet')
  assert.ok(cells[4].length > 0 && cells[4] !== 'Never', `created date: ${cells[4]}`)
  assert.equal(cells[5], 'Never', 'a key made without an expiry never expires')
  assert.equal(cells[6], 'None', 'nor has it a daily limit')

  // A session with the key, over HTTP as a customer's server would; then reload.
  const session = await openSession(key)
  assert.equal(session.status, 200, JSON.stringify(session.body))
  await page.reload()
  await row(page, 'Production').waitFor()
  const used = await row(page, 'Production').locator('td').nth(2).textContent()
  assert.notEqual(used, 'Never', 'Last used is filled in after a session')
  await page.locator('#credits', { hasText: String(creditsBefore - 1) }).waitFor()
  await shot(page, '04-last-used')

  // Delete asks first, then revokes: the key answers 401 at once.
  await page.getByRole('button', { name: 'Delete Production' }).click()
  const confirm = page.getByRole('dialog', { name: 'Delete key?' })
  await confirm.waitFor()
  assert.match(await confirm.textContent(), /Production/)
  await shot(page, '05-delete-confirmation')
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click()
  await page.getByText('Key "Production" deleted').waitFor()
  assert.equal(await row(page, 'Production').count(), 0)
  const refused = await openSession(key)
  assert.deepEqual([refused.status, refused.body.error], [401, 'Invalid API key'])
  await shot(page, '06-deleted')
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('a key made with a daily limit shows it, and past it the key is refused with nothing taken', async () => {
  const page = await openPage(SIGNED_IN)
  await page.getByRole('button', { name: 'Add Key' }).click()
  const dialog = page.getByRole('dialog', { name: 'Add Key' })
  await dialog.getByLabel('Name').fill('Nightly batch')
  await dialog.getByLabel('Sessions per day (optional)').fill('1')
  await shot(page, '16-daily-limit-dialog')
  await dialog.getByRole('button', { name: 'Create Key' }).click()
  const created = page.getByRole('dialog', { name: 'Your new API key' })
  await created.waitFor()
  const key = (await created.locator('#created-key').textContent()).trim()
  await created.getByRole('button', { name: 'Done' }).click()
  const limited = row(page, 'Nightly batch')
  await limited.waitFor()
  assert.equal(await limited.locator('td[data-label="Daily limit"]').textContent(), '1 / day')
  assert.equal((await openSession(key)).status, 200)
  const refused = await openSession(key)
  assert.deepEqual([refused.status, refused.body.code], [429, 'key_limit_reached'])
  await shot(page, '17-daily-limit')
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

// Reports `key` leaked as GitHub's secret scanning would: the body signed with the key the
// stack trusts (ECDSA P-256 / SHA-256, DER, base64), named by the SHA-256 of its public key.
async function reportLeaked(key, url) {
  const pem = readFileSync(process.env.VP_REPORTER_KEY, 'utf8')
  const spki = createPublicKey(pem).export({ type: 'spki', format: 'der' })
  const body = JSON.stringify([{ token: key, type: 'visionpipe_api_key', url, source: 'content' }])
  const response = await fetch(`${BASE}/api/v1/secret-scanning`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Github-Public-Key-Identifier': createHash('sha256').update(spki).digest('hex'),
      'Github-Public-Key-Signature': createSign('SHA256').update(body).sign(pem, 'base64'),
    },
    body,
  })
  return { status: response.status, body: await response.json() }
}

test('a key found leaked shows as revoked, offers no Roll, and the audit log says where', async () => {
  const page = await openPage(SIGNED_IN)
  const key = await createKey(page, 'Committed by mistake')
  await page.getByRole('button', { name: 'Done' }).click()
  await row(page, 'Committed by mistake').waitFor()
  const url = 'https://github.com/octo/app/blob/4f2c9e1/.env'
  const reported = await reportLeaked(key, url)
  assert.equal(reported.status, 200, JSON.stringify(reported.body))
  assert.equal(reported.body[0].label, 'true_positive')
  assert.equal((await openSession(key)).status, 401, 'revoked at once')
  await page.reload()
  const leaked = row(page, 'Committed by mistake')
  await leaked.waitFor()
  assert.match(await leaked.locator('td[data-label="Expires"]').textContent(), /^Revoked: found leaked /)
  assert.equal(await page.getByRole('button', { name: 'Roll Committed by mistake' }).count(), 0)
  assert.ok(await page.getByRole('button', { name: 'Delete Committed by mistake' }).isVisible())
  await shot(page, '18-leaked-key')
  await page.getByRole('link', { name: 'Audit log' }).click()
  await page.locator('#audit').getByText(`Key found leaked and revoked: ${url}`).waitFor()
  await shot(page, '19-leaked-audit')
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('a key name is shown as text, never run as HTML', async () => {
  const page = await openPage(SIGNED_IN)
  const name = '<img src=x onerror=alert(1)>'
  await createKey(page, name)
  await page.getByRole('button', { name: 'Done' }).click()
  const cell = page.locator('#keys td').filter({ hasText: name })
  await cell.waitFor()
  assert.equal(await cell.textContent(), name)
  assert.equal(await page.locator('#keys img').count(), 0, 'no element was made from the name')
  await shot(page, '07-xss-name-as-text')
  assert.deepEqual(page.problems, [], 'no alert, no script error')
  await page.context().close()
})

test('the audit log shows the last 90 days and downloads the export as JSON lines and CSV', async () => {
  const page = await openPage(SIGNED_IN)
  await page.getByRole('link', { name: 'Audit log' }).click()
  await page.getByRole('heading', { name: 'Audit log' }).waitFor()
  const table = page.locator('#audit')
  await table.locator('tr').first().waitFor()
  const text = await table.textContent()
  for (const event of ['Key created', 'Key used', 'Key deleted']) assert.ok(text.includes(event), `${event} in the log`)
  assert.match(text, /127\.0\.0\.1/, 'with the IP address')
  await shot(page, '08-audit-log')

  const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON Lines' }).click()])
  const lines = readFileSync(await jsonl.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(lines.length, await table.locator('tr').count())
  assert.ok(lines.every((e) => e.accountId && e.at && e.event))
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()])
  const rows = readFileSync(await csv.path(), 'utf8').trim().split('\r\n')
  assert.equal(rows[0], 'at,event,accountId,keyId,previousKeyId,sessionId,ipAddress,userAgent,url,source,id')
  assert.equal(rows.length, lines.length + 1)
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('Roll replaces a key: the successor shown once, the old key working through its grace', async () => {
  const page = await openPage(SIGNED_IN)
  const oldKey = await createKey(page, 'Rotating')
  await page.getByRole('button', { name: 'Done' }).click()
  await page.getByRole('button', { name: 'Roll Rotating' }).click()
  const dialog = page.getByRole('dialog', { name: 'Roll key?' })
  await dialog.getByLabel('Old key keeps working for').selectOption('3600')
  await shot(page, '14-roll-dialog')
  await dialog.getByRole('button', { name: 'Roll', exact: true }).click()
  const created = page.getByRole('dialog', { name: 'Your new API key' })
  await created.waitFor()
  const newKey = (await created.locator('#created-key').textContent()).trim()
  assert.match(newKey, /^vp_live_[0-9a-f]{64}$/)
  assert.notEqual(newKey, oldKey)
  await created.getByRole('button', { name: 'Done' }).click()
  await page.getByText('Key "Rotating" rolled').waitFor()
  // Two rows named Rotating: the old one now expires (in an hour), the new one never.
  const rows = row(page, 'Rotating')
  await rows.nth(1).waitFor()
  const expiries = await rows.locator('td[data-label="Expires"]').allTextContents()
  assert.equal(expiries.filter((e) => e === 'Never').length, 1, `${expiries}`)
  // Both keys open sessions during the grace period.
  assert.equal((await openSession(oldKey)).status, 200)
  assert.equal((await openSession(newKey)).status, 200)
  await shot(page, '15-rolled')
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('every control works from the keyboard', async () => {
  const page = await openPage(SIGNED_IN)
  await page.getByRole('button', { name: 'Add Key' }).waitFor()
  // Tab from the top of the page to Add Key, open it with Enter.
  let focused = ''
  for (let i = 0; i < 10 && focused !== 'add-key'; i++) {
    await page.keyboard.press('Tab')
    focused = await page.evaluate(() => document.activeElement?.id)
  }
  assert.equal(focused, 'add-key', 'Add Key is reachable with Tab')
  await page.keyboard.press('Enter')
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'key-name', 'the dialog focuses Name')
  await page.keyboard.type('Keyboard')
  await page.keyboard.press('Enter')
  const created = page.getByRole('dialog', { name: 'Your new API key' })
  await created.waitFor()
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'copy-key', 'Copy has the focus')
  await page.keyboard.press('Escape')
  await created.waitFor({ state: 'hidden' })
  assert.equal(await page.locator('#created-key').textContent(), '', 'Escape also removes the key')
  // Delete by keyboard: focus the row's button, Enter, then confirm with Tab + Enter.
  await page.getByRole('button', { name: 'Delete Keyboard' }).focus()
  await page.keyboard.press('Enter')
  await page.getByRole('dialog', { name: 'Delete key?' }).waitFor()
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'delete-cancel', 'Cancel is the safe default')
  await page.keyboard.press('Tab')
  await page.keyboard.press('Enter')
  await page.getByText('Key "Keyboard" deleted').waitFor()
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('usage: sessions per day by key, one key picked, read from the keyboard, as a table and a CSV', async () => {
  // GIVEN two keys of the account used three times and once today
  const page = await openPage(SIGNED_IN)
  const chartA = await createKey(page, 'Chart A')
  await page.getByRole('button', { name: 'Done' }).click()
  const chartB = await createKey(page, 'Chart B')
  await page.getByRole('button', { name: 'Done' }).click()
  for (const key of [chartA, chartA, chartA, chartB]) assert.equal((await openSession(key)).status, 200)
  // THEN the keys table shows each one's sessions today
  await page.reload()
  await row(page, 'Chart A').waitFor()
  assert.equal(await row(page, 'Chart A').locator('td[data-label="Sessions today"]').textContent(), '3')
  assert.equal(await row(page, 'Chart B').locator('td[data-label="Sessions today"]').textContent(), '1')
  // WHEN the Usage page is opened
  await page.getByRole('link', { name: 'Usage' }).click()
  const today = new Date().toISOString().slice(0, 10)
  const todayRow = page.locator(`#usage-rows tr[data-day="${today}"]`)
  await todayRow.waitFor()
  // THEN the chart's table view has both series with their counts, and the legend names them
  const byKey = await todayRow.locator('td[data-label="By key"]').textContent()
  assert.match(byKey, /Chart A: 3/)
  assert.match(byKey, /Chart B: 1/)
  assert.match(await page.locator('#usage-legend').textContent(), /Chart A: 3/)
  await shot(page, '18-usage')
  // AND the chart is read from the keyboard: Tab reaches today's bar, which says its counts
  await page.getByRole('button', { name: 'Download CSV' }).focus()
  let label = ''
  for (let i = 0; i < 40 && !label.includes('Chart A 3'); i++) {
    await page.keyboard.press('Tab')
    label = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '')
  }
  assert.ok(label.includes('Chart A 3') && label.includes('Chart B 1'), `today's bar is a keyboard stop with its counts: ${label}`)
  // WHEN one key is picked THEN only its sessions are shown
  await page.locator('#usage-key').selectOption({ label: 'Chart B' })
  await page.waitForFunction((day) => {
    const cell = document.querySelector(`#usage-rows tr[data-day="${day}"] td[data-label="Sessions"]`)
    return cell && cell.textContent === '1' && !document.querySelector('#usage-legend').textContent.includes('Chart A')
  }, today)
  // AND the shown range downloads as CSV, a row per day and key
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()])
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n')
  assert.equal(csv[0], 'day,keyId,keyName,sessions')
  assert.equal(csv.length, 1 + 30, 'one row per day of the one key shown')
  assert.ok(csv.some((line) => line.startsWith(`${today},`) && line.endsWith(',Chart B,1')), csv.join('\n'))
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('at 375 px wide everything fits and still works', async () => {
  const page = await openPage(SIGNED_IN, { width: 375, height: 740 })
  const name = await createKey(page, 'Phone')
  assert.match(name, /^vp_live_/)
  await shot(page, '09-375px-key-dialog')
  await page.getByRole('button', { name: 'Done' }).click()
  await row(page, 'Phone').waitFor()
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  assert.ok(overflow <= 0, `no sideways scrolling (overflow ${overflow}px)`)
  assert.ok(await page.getByRole('button', { name: 'Delete Phone' }).isVisible())
  await shot(page, '10-375px')
  // The usage page fits too: chart, legend and table
  await page.getByRole('link', { name: 'Usage' }).click()
  await page.locator('#usage-rows tr').first().waitFor()
  const usageOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  assert.ok(usageOverflow <= 0, `no sideways scrolling on Usage (overflow ${usageOverflow}px)`)
  await shot(page, '19-375px-usage')
  await page.context().close()
})

test('API failures are shown in words, and a bad or expired token is a clear signed-out page', async () => {
  // The network is down.
  const page = await openPage(SIGNED_IN)
  await page.getByRole('button', { name: 'Add Key' }).waitFor()
  await page.route('**/api/v1/keys', (route) => route.abort('internetdisconnected'))
  await page.reload()
  await page.getByRole('alert').filter({ hasText: 'Cannot reach the VisionPipe API' }).waitFor()
  // The service fails.
  await page.unroute('**/api/v1/keys')
  await page.route('**/api/v1/keys', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ success: false, error: 'Service temporarily unavailable, please retry', code: 'service_unavailable' }) }),
  )
  await page.reload()
  await page.getByRole('alert').filter({ hasText: 'Service temporarily unavailable, please retry' }).waitFor()
  await shot(page, '11-service-unavailable')
  await page.context().close()

  // An expired token and a garbage one: the signed-out state, not a broken page.
  for (const [url, name] of [[EXPIRED, '12-expired-token'], [`${BASE}/console#token=not-a-token`, '13-invalid-token']]) {
    const signedOut = await openPage(url)
    await signedOut.getByRole('heading', { name: 'You are signed out' }).waitFor()
    assert.ok(await signedOut.getByRole('link', { name: 'Sign in to the Cloud Console' }).isVisible())
    assert.ok(!(await signedOut.getByRole('button', { name: 'Add Key' }).isVisible()))
    assert.equal(await signedOut.evaluate(() => sessionStorage.getItem('visionpipe.consoleToken')), null, 'the dead token is dropped')
    await shot(signedOut, name)
    assert.deepEqual(signedOut.problems, [])
    await signedOut.context().close()
  }
})

test('a link that would sign in as another account asks first, and never stays in the address bar', async () => {
  const page = await openPage(SIGNED_IN)
  await page.getByRole('button', { name: 'Add Key' }).waitFor()
  const held = () => page.evaluate(() => sessionStorage.getItem('visionpipe.consoleToken'))
  const signedInToken = await held()
  const follow = (token) => page.evaluate((t) => { location.hash = `#token=${t}` }, token)
  // A link for this same account: taken at once, no question.
  await follow(SAME_TOKEN)
  await page.waitForFunction(() => !location.hash.includes('token='))
  assert.equal(await held(), SAME_TOKEN)
  assert.ok(!(await page.getByRole('dialog', { name: 'Switch account?' }).isVisible()))
  // A link for another account: the page asks, naming both, and the fragment is gone already.
  await follow(OTHER_TOKEN)
  const ask = page.getByRole('dialog', { name: 'Switch account?' })
  await ask.waitFor()
  assert.match(await ask.textContent(), /acct_other[\s\S]*acct_browser/)
  assert.ok(!(await page.evaluate(() => location.hash.includes('token='))))
  await shot(page, '14-switch-account')
  // Stay: nothing changes.
  await ask.getByRole('button', { name: 'Stay' }).click()
  await ask.waitFor({ state: 'hidden' })
  assert.equal(await held(), SAME_TOKEN)
  // Switch, when meant: the other account's (empty) key list.
  await follow(OTHER_TOKEN)
  await ask.waitFor()
  await ask.getByRole('button', { name: 'Switch account' }).click()
  await ask.waitFor({ state: 'hidden' })
  assert.equal(await held(), OTHER_TOKEN)
  await page.getByText('No API keys yet', { exact: false }).waitFor()
  assert.notEqual(signedInToken, OTHER_TOKEN)
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('the Live/Test switch: a test key is made under Test, shows its badge, and its sessions spend no credit', async () => {
  const page = await openPage(SIGNED_IN)
  const credits = page.locator('#credits')
  await page.getByRole('button', { name: 'Add Key' }).waitFor()
  await page.waitForFunction(() => /^[0-9]+$/.test(document.querySelector('#credits').textContent))
  const before = await credits.textContent()
  // WHEN the switch is set to Test keys THEN the page says what test keys are, and lists none
  await page.getByRole('radio', { name: 'Test keys' }).check()
  await page.locator('#test-hint').waitFor()
  await page.getByText('No test keys yet', { exact: false }).waitFor()
  // AND Add Key makes a test key, shown once like any key
  await page.getByRole('button', { name: 'Add Key' }).click()
  assert.match(await page.locator('#create-mode').textContent(), /test key/)
  await page.getByRole('dialog', { name: 'Add Key' }).getByLabel('Name').fill('Staging')
  await page.getByRole('dialog', { name: 'Add Key' }).getByRole('button', { name: 'Create Key' }).click()
  const created = page.getByRole('dialog', { name: 'Your new API key' })
  await created.waitFor()
  const key = (await created.locator('#created-key').textContent()).trim()
  assert.match(key, /^vp_test_[0-9a-f]{64}$/)
  await created.getByRole('button', { name: 'Done' }).click()
  // AND it is listed under Test with its badge
  const staging = row(page, 'Staging')
  await staging.waitFor()
  assert.equal(await staging.locator('.badge').textContent(), 'Test')
  assert.equal(await staging.locator('td[data-label="Key prefix"]').textContent(), key.slice(0, 12))
  // AND its session is a test session that leaves the credits as they were
  const session = await openSession(key)
  assert.deepEqual([session.status, session.body.mode, String(session.body.credits)], [200, 'test', before])
  assert.match(session.body.playgroundUrl, /&mode=test$/)
  await page.reload()
  await page.getByRole('radio', { name: 'Test keys' }).check()
  await row(page, 'Staging').waitFor()
  await page.waitForFunction(() => /^[0-9]+$/.test(document.querySelector('#credits').textContent))
  assert.equal(await credits.textContent(), before, 'no credit spent')
  assert.equal(await row(page, 'Staging').locator('td[data-label="Sessions today"]').textContent(), '1')
  await shot(page, '25-test-keys')
  // WHEN the switch is set back to Live keys THEN the test key is not among them
  await page.getByRole('radio', { name: 'Live keys' }).check()
  await page.locator('#live-hint').waitFor()
  await page.waitForFunction(() => ![...document.querySelectorAll('#keys td[data-label="Name"]')].some((td) => td.textContent.includes('Staging')))
  assert.deepEqual(page.problems, [])
  await page.context().close()
})

test('webhooks: add an endpoint and copy its secret once, send a test event and see the delivery, set the low-credit alert, see a failing endpoint marked, delete the endpoint', async () => {
  // A receiver on loopback (local runs may deliver there), answering 204 and keeping what came.
  const received = []
  const receiver = createServer((req, res) => {
    received.push({ id: req.headers['webhook-id'], signature: req.headers['webhook-signature'] })
    req.resume()
    res.writeHead(204).end()
  })
  await new Promise((done) => receiver.listen(0, '127.0.0.1', done))
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/visionpipe`
  const page = await openPage(SIGNED_IN)
  await page.getByRole('button', { name: 'Add Key' }).waitFor()
  await page.getByRole('link', { name: 'Webhooks' }).click()
  await page.getByText('No webhook endpoints yet.').waitFor()
  // Add an endpoint (locally a receiver on 127.0.0.1 may be plain http)
  await page.getByLabel('Endpoint URL').fill(hookUrl)
  await page.getByLabel('key.rolled').check()
  await page.getByLabel('Description (optional)').fill('Ops alerts')
  await page.getByRole('button', { name: 'Add endpoint' }).click()
  // THEN its secret is shown once, and copied
  const dialog = page.getByRole('dialog', { name: "Your endpoint's signing secret" })
  await dialog.waitFor()
  const secret = (await dialog.locator('#webhook-secret').textContent()).trim()
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  await dialog.getByRole('button', { name: 'Copy' }).click()
  await dialog.getByText('Copied to the clipboard.').waitFor()
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret)
  await shot(page, '26-webhook-secret')
  await dialog.getByRole('button', { name: 'Done' }).click()
  assert.ok(!(await page.content()).includes(secret), 'the secret left the DOM with its dialog')
  // AND the endpoint is listed with its events
  const row = page.locator('#webhooks tr', { hasText: hookUrl })
  await row.waitFor()
  assert.equal(await row.locator('td[data-label="Events"]').textContent(), 'credits.low, credits.exhausted, key.rolled, key.leaked')
  assert.equal(await row.locator('td[data-label="Description"]').textContent(), 'Ops alerts')
  // A private address is refused, in words, and nothing is added
  await page.getByLabel('Endpoint URL').fill('https://10.0.0.1/hook')
  await page.getByRole('button', { name: 'Add endpoint' }).click()
  await page.getByText("url's host is a private, loopback, link-local or otherwise non-public address").waitFor()
  assert.equal(await page.locator('#webhooks tr').count(), 1)
  // Send a test event: it arrives signed, and the endpoint's deliveries show it
  await page.getByRole('button', { name: `Send a test event to ${hookUrl}` }).click()
  await page.getByText(`Test event delivered to ${hookUrl}: 204 in`, { exact: false }).waitFor()
  await page.locator('#deliveries tr', { hasText: 'webhook.test' }).waitFor()
  assert.equal(await page.locator('#deliveries td[data-label="Result"]').first().textContent(), 'Delivered')
  assert.equal(received.length, 1)
  assert.match(received[0].id, /^msg_/)
  assert.match(received[0].signature, /^v1,[A-Za-z0-9+/]{43}=$/)
  await shot(page, '28-webhook-deliveries')
  // Set the low-credit alert
  await page.getByLabel('Send credits.low when the balance falls to').fill('5')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.getByText('Low-credit alert set: credits.low at 5 credits.').waitFor()
  await shot(page, '27-webhooks')
  // An endpoint whose every attempt fails (the stack's retry unit is 1 ms, so the whole
  // schedule takes under 5 s) shows as failing once its event is given up on
  const failing = createServer((req, res) => { req.resume(); res.writeHead(500).end() })
  await new Promise((done) => failing.listen(0, '127.0.0.1', done))
  const failingUrl = `http://127.0.0.1:${failing.address().port}/down`
  await page.getByLabel('Endpoint URL').fill(failingUrl)
  await page.getByLabel('key.created').check()
  await page.getByRole('button', { name: 'Add endpoint' }).click()
  await page.getByRole('dialog', { name: "Your endpoint's signing secret" }).getByRole('button', { name: 'Done' }).click()
  const token = new URL(SIGNED_IN).hash.replace('#token=', '')
  const made = await fetch(`${BASE}/api/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Raises key.created' }),
  })
  assert.equal(made.status, 201)
  const failingRow = page.locator('#webhooks tr', { hasText: failingUrl })
  for (let tries = 0; !(await failingRow.getByText('Failing').isVisible()); tries++) {
    assert.ok(tries < 60, 'the endpoint never showed as failing')
    await new Promise((done) => setTimeout(done, 500))
    await page.getByRole('link', { name: 'Webhooks' }).click()
    await page.reload()
    await failingRow.waitFor()
  }
  assert.match(await failingRow.locator('.badge').getAttribute('title'), /^An event was given up on /)
  await shot(page, '29-webhook-failing')
  await page.getByRole('button', { name: `Delete endpoint ${failingUrl}` }).click()
  await page.getByRole('dialog', { name: 'Delete endpoint?' }).getByRole('button', { name: 'Delete' }).click()
  await failingRow.waitFor({ state: 'detached' })
  failing.close()
  // Delete the endpoint, confirmed
  await page.getByRole('button', { name: `Delete endpoint ${hookUrl}` }).click()
  await page.getByRole('dialog', { name: 'Delete endpoint?' }).getByRole('button', { name: 'Delete' }).click()
  await page.getByText('No webhook endpoints yet.').waitFor()
  assert.ok(await page.locator('#deliveries-panel').isHidden(), 'the deleted endpoint\'s deliveries are not left shown')
  assert.deepEqual(page.problems, [])
  await page.context().close()
  receiver.close()
})
