// The dashboard in a real browser: Debian's Chromium, headless, through playwright-core.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { launchBrowser, outputPath } from '../helpers/browser.js';
import { startEmbeddedService } from '../helpers/embedded.js';
import { createBatchTable, freshDb, freshTopic, producer, sparkJson, startService, waitFor } from '../helpers/harness.js';


test('the dashboard finds a key with the search box and shows its merged value (batch + speed)', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['Zürich', 40, 1000, 5, 2], ['Lisbon', 90, 10, 1, 1], ['Oslo', 70, 3, 0, 0], [null, 60, 0, 0, 0]]);
  const svc = await startService(t, db, topic);
  const prod = await producer(t, topic);
  const day = (d: number) => ({ start: `2026-11-${d}T00:00:00Z`, end: `2026-11-${d + 1}T00:00:00Z` });
  await prod.send([
    { value: sparkJson({ location: 'Zürich', count: 2, followers: 30, window: day(26) }) },
    { value: sparkJson({ location: 'Zürich', count: 3, followers: 12, window: day(27) }) },
    { value: sparkJson({ location: 'Bergen', count: 7 }) },
  ]);
  await waitFor(() => svc.service.consumer.positions()['0'] === '3');

  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(svc.url);
  // the top table fills from /v1/top: Lisbon (90) first
  await page.locator('#top tbody tr').first().waitFor();
  assert.equal(await page.locator('#top tbody tr').first().locator('td').first().textContent(), 'Lisbon');
  assert.equal(await page.locator('#top thead th').first().textContent(), 'location');

  await page.fill('#search', 'Zürich');
  await page.press('#search', 'Enter');
  const count = page.getByTestId('lookup-count_id');
  await count.waitFor();
  assert.equal(await count.getAttribute('data-value'), '45', '40 in the batch + 2 + 3 from two speed windows');
  assert.equal(await page.getByTestId('lookup-sum_followers_count').getAttribute('data-value'), '1042');
  assert.match(await page.locator('#lookup').textContent() ?? '', /batch 40 \+ speed 5/);
  // the table is filtered to the key as well
  assert.deepEqual(await page.locator('#top tbody tr td:first-child').allTextContents(), ['Zürich']);

  // a speed-only key, and an unknown one
  await page.fill('#search', 'Bergen');
  await page.press('#search', 'Enter');
  await page.locator('[data-testid="lookup-count_id"][data-value="7"]').waitFor();
  await page.fill('#search', 'Atlantis');
  await page.press('#search', 'Enter');
  await page.getByTestId('lookup-missing').waitFor();

  await page.fill('#search', 'Zürich');
  await page.press('#search', 'Enter');
  await page.locator('[data-testid="lookup-count_id"][data-value="45"]').waitFor();
  const shot = outputPath('dashboard-search.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000);
  assert.deepEqual(errors, [], 'no script errors');
});

test('the dashboard of an embedded run charts updates/s and lag and shows the batch watermark, last snapshot and rejections', async (t) => {
  const svc = await startEmbeddedService(t, { EMBEDDED_RATE: '400', FLUSH_INTERVAL: '2s' });
  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(svc.url);
  await page.locator('#rateChart polyline').waitFor({ timeout: 15_000 });
  // lag is often 0 throughout: a flat line has no height, so wait for it to exist, not to be "visible"
  await page.locator('#lagChart polyline').waitFor({ state: 'attached' });
  await waitFor(async () => ((await page.locator('#lagChart polyline').getAttribute('points')) ?? '').trim().split(/\s+/).length >= 2, 15_000);
  await waitFor(async () => /^#\d+/.test(await page.locator('#snapSub').textContent() ?? ''), 15_000);
  await waitFor(async () => (await page.locator('#rejected [data-reason]').count()) > 0, 15_000);
  assert.match(await page.locator('#batchSub').textContent() ?? '', /watermark \d{4}-\d\d-\d\dT00:00:00\.000Z/);
  assert.equal(await page.locator('#mode').textContent(), 'embedded mode');
  assert.equal(await page.locator('#ready').textContent(), 'ready');

  await page.fill('#search', 'London');
  await page.press('#search', 'Enter');
  const count = page.getByTestId('lookup-count_id');
  await count.waitFor();
  const shown = BigInt((await count.getAttribute('data-value')) as string);
  const batch = svc.service.batch.snapshot.get('London')?.[0] as bigint;
  const now = svc.service.reads.get('London')?.metrics[0] as bigint;
  assert.ok(shown > batch && shown <= now, `merged ${shown}: more than the batch's ${batch} (speed added), at most the current ${now}`);
  // the lookup stays while the table shows every top key again
  await page.fill('#search', '');
  await waitFor(async () => (await page.locator('#top tbody tr').count()) === 20);
  await page.waitForTimeout(2500); // a few more points on the charts for the picture
  await page.screenshot({ path: outputPath('dashboard-embedded.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no script errors');
});
