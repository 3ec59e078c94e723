import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import t from 'tap'
import { adminToken, createShow, testApp } from './helpers/app.ts'

// Debian's Chromium, never a downloaded build: this machine reaches no browser download site.
const executablePath = '/usr/bin/chromium'
const artifacts = fileURLToPath(new URL('../test-artifacts/', import.meta.url))
const timeout = 15_000

const skip = existsSync(executablePath) ? false : `${executablePath} is missing (apt-get install -y chromium)`

t.test('Swagger UI at /docs lists every tag, authorizes, and holds seats through "Try it out"', { skip }, async (t) => {
  const { app } = await testApp(t)
  const show = await createShow(app, { total_seats: 10 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const browser = await chromium.launch({
    executablePath,
    timeout,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync']
  })
  // Registered after testApp's teardown, so it runs first (tap tears down last in, first out)
  // and no browser connection is left open while the server closes.
  t.teardown(async () => await browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.setDefaultTimeout(timeout)
  mkdirSync(artifacts, { recursive: true })
  const screenshot = async () => await page.screenshot({ path: path.join(artifacts, 'docs-ui.png'), fullPage: true })

  try {
    await page.goto(`${base}/docs`)
    for (const tag of ['shows', 'bookings', 'admin', 'operations']) {
      await page.locator(`.opblock-tag[data-tag="${tag}"]`).waitFor({ state: 'visible' })
      t.pass(`the ${tag} tag is shown`)
    }

    await page.locator('.auth-wrapper button.authorize').click()
    const dialog = page.locator('.modal-ux')
    await dialog.locator('input[aria-label="auth-bearer-value"]').fill(adminToken)
    await dialog.locator('.auth-btn-wrapper button.authorize').click()
    // The dialog swaps its Authorize button for Logout once the token is stored.
    await dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).waitFor()
    await dialog.locator('button.btn-done').click()
    await dialog.waitFor({ state: 'detached' })
    t.match(await page.locator('.auth-wrapper button.authorize').getAttribute('class'), /\blocked\b/, 'the lock shows as authorized')

    const operation = page.locator('#operations-bookings-createBooking')
    await operation.locator('.opblock-summary-control').click()
    await operation.locator('button.try-out__btn').click()
    await operation.locator('textarea.body-param__text').fill(JSON.stringify({ show_id: show.id, quantity: 2 }))
    await operation.locator('button.execute').click()
    const live = operation.locator('.live-responses-table .response')
    const status = live.locator('.response-col_status')
    await status.waitFor()
    t.equal((await status.innerText()).trim(), '201', 'the live response is 201 Created')
    const body = await live.locator('.response-col_description pre').first().innerText()
    t.match(body, show.id, 'the response body names the show')
    t.match(body, 'PENDING', 'the response body is a pending hold')
  } catch (error) {
    // What the page really was is the quickest way to fix a selector that Swagger UI changed;
    // saving it is best effort, so that the original error is the one reported.
    await page.content().then((html) => { writeFileSync(path.join(artifacts, 'docs-ui-failure.html'), html) }).catch(() => {})
    await screenshot().catch(() => {})
    throw error
  }
  await screenshot()

  const { availability } = (await app.inject(`/shows/${show.id}/availability`)).json()
  t.match(availability, { total: 10, held: 2, available: 8 }, 'the hold from the page is real')
})
