/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

const CHROMIUM = '/usr/bin/chromium';
const TRACKER_INTEGRITY = `sha384-${createHash('sha384')
  .update(readFileSync(join(__dirname, '..', 'src', 'tracker', 'tracker.js')))
  .digest('base64')}`;

/** README's snippet for a page, as it is written there, loading the tracker from trackerUrl. */
function readmeSnippet(trackerUrl: string): string {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const snippet = /### In a page[^]*?```html\n([^]*?)```/.exec(readme)?.[1];
  if (!snippet) throw new Error('README.md has no html snippet under "In a page"');
  return snippet.replace('https://track.example.com/v1/tracker.js', trackerUrl);
}

/**
 * A page server on its own origin: /readme answers README's snippet; every other path the
 * same page, which loads the tracker.
 */
async function pageServer(trackerUrl: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    if (req.url === '/readme')
      res.end(`<!doctype html><title>shop</title>${readmeSnippet(trackerUrl)}`);
    else if (req.url === '/readme-with-a-bad-call')
      // Queued first: fields that cannot become JSON (a cycle), then the README's calls.
      res.end(
        `<!doctype html><title>shop</title>${readmeSnippet(trackerUrl).replace(
          "ct.track('purchase'",
          "var cycle = {}; cycle.self = cycle; ct.track('cyclic', cycle);\n  ct.track('purchase'",
        )}`,
      );
    else if (req.url === '/with-integrity')
      // As a page requiring Subresource Integrity for third-party scripts loads it.
      res.end(
        `<!doctype html><title>shop</title><script src="${trackerUrl}" integrity="${TRACKER_INTEGRITY}" crossorigin="anonymous"></script>`,
      );
    else res.end(`<!doctype html><title>shop</title><script src="${trackerUrl}"></script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * The browser path in a real browser (Debian's Chromium driven by playwright-core): a page
 * on an allowed origin tracks through a credentialed CORS preflight and through
 * sendBeacon; a page on another origin is stopped by the browser and stores nothing.
 */
describe('a real browser on the tracking path', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let browser: BrowserContext;
  let profile: string;
  let allowed: { server: Server; origin: string };
  let foreign: { server: Server; origin: string };

  const stored = async (visitorId: string) =>
    (
      await db.pool.query<{ event_type: string; utm_source: string | null; origin: string | null }>(
        'SELECT event_type, utm_source, origin FROM events WHERE visitor_id = $1 ORDER BY event_type',
        [visitorId],
      )
    ).rows;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: install it (apt-get install -y chromium); .ci/run does`,
      );
    }
    db = await createTestDatabase();
    // The service's port must be known to the pages and the pages' origins to the service.
    const servicePort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const trackerUrl = `http://127.0.0.1:${servicePort}/v1/tracker.js`;
    allowed = await pageServer(trackerUrl);
    foreign = await pageServer(trackerUrl);
    app = await createTestApp(db.url, { CORS_ORIGINS: allowed.origin, RATE_LIMIT_PER_MINUTE: '0' });
    await app.listen({ port: servicePort, host: '127.0.0.1' });
    profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await db?.drop();
    for (const page of [allowed, foreign]) page?.server.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('tracks from an allowed origin by fetch with credentials (preflighted) and by sendBeacon', async () => {
    const page = await browser.newPage();
    await page.goto(
      `${allowed.origin}/landing?utm_source=newsletter&utm_medium=email&utm_campaign=nov`,
    );
    await page.waitForFunction(() => 'ct' in window);
    const visitorId = await page.evaluate(
      () => (window as unknown as { ct: { visitorId: string } }).ct.visitorId,
    );
    const answer = await page.evaluate(() =>
      (
        window as unknown as { ct: { track(type: string, fields: object): Promise<unknown> } }
      ).ct.track('purchase', { value: 49.9, currency: 'EUR' }),
    );
    expect(answer).toMatchObject({ success: true, duplicate: false });
    // Another page of the session: the landing page's campaign stays with its events.
    await page.goto(`${allowed.origin}/checkout`);
    await page.waitForFunction(() => 'ct' in window);
    const queued = await page.evaluate(() =>
      (window as unknown as { ct: { beacon(type: string): boolean } }).ct.beacon('generate_lead'),
    );
    expect(queued).toBe(true);
    await expect
      .poll(() => stored(visitorId), { timeout: 5_000 })
      .toEqual([
        { event_type: 'generate_lead', utm_source: 'newsletter', origin: allowed.origin },
        { event_type: 'purchase', utm_source: 'newsletter', origin: allowed.origin },
      ]);
    await page.close();
  });

  it("tracks the calls README's snippet makes before the script has loaded (async)", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${allowed.origin}/readme`);
    await page.waitForFunction(() => 'visitorId' in (window as unknown as { ct: object }).ct);
    // A new tab is a new session (the visitor is the earlier tests' one).
    const sessionId = await page.evaluate(() => sessionStorage.getItem('ct_sid'));
    const inSession = async () =>
      (
        await db.pool.query<{ event_type: string }>(
          'SELECT event_type FROM events WHERE session_id = $1 ORDER BY event_type',
          [sessionId],
        )
      ).rows.map((row) => row.event_type);
    await expect.poll(inSession, { timeout: 5_000 }).toEqual(['generate_lead', 'purchase']);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('makes the queued calls after one that cannot be sent', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/readme-with-a-bad-call`);
    await page.waitForFunction(() => 'visitorId' in (window as unknown as { ct: object }).ct);
    const sessionId = await page.evaluate(() => sessionStorage.getItem('ct_sid'));
    await expect
      .poll(
        async () =>
          (
            await db.pool.query<{ event_type: string }>(
              'SELECT event_type FROM events WHERE session_id = $1 ORDER BY event_type',
              [sessionId],
            )
          ).rows.map((row) => row.event_type),
        { timeout: 5_000 },
      )
      .toEqual(['generate_lead', 'purchase']);
    await page.close();
  });

  it('tracks from a visitor whose clock runs 10 minutes fast, on a page address over 2,048 characters', async () => {
    const page = await browser.newPage();
    // The service refuses an occurred_at over 5 minutes ahead: the tracker sends none.
    await page.clock.install({ time: Date.now() + 10 * 60_000 });
    await page.goto(`${allowed.origin}/search?q=${'x'.repeat(3_000)}`);
    await page.waitForFunction(() => 'ct' in window);
    const visitorId = await page.evaluate(
      () => (window as unknown as { ct: { visitorId: string } }).ct.visitorId,
    );
    const answer = await page.evaluate(() =>
      (window as unknown as { ct: { track(type: string): Promise<unknown> } }).ct.track(
        'page_view',
      ),
    );
    expect(answer).toMatchObject({ success: true });
    // The profile keeps one visitor id for the origin: this page's view is the only one.
    const views = (await stored(visitorId)).filter((event) => event.event_type === 'page_view');
    expect(views).toEqual([{ event_type: 'page_view', utm_source: null, origin: allowed.origin }]);
    await page.close();
  });

  it('shortens or leaves out landing parameters the service would refuse, not the events', async () => {
    const page = await browser.newPage();
    await page.goto(
      `${allowed.origin}/ad?utm_source=ads&utm_content=${'c'.repeat(300)}&utm_term=%00news&gclid=${'g'.repeat(600)}`,
    );
    await page.waitForFunction(() => 'ct' in window);
    type Tracker = { track(type: string): Promise<unknown>; visitorId: string };
    const track = (type: string) =>
      page.evaluate((t) => (window as unknown as { ct: Tracker }).ct.track(t), type);
    expect(await track('page_view')).toMatchObject({ success: true });
    // The next page of the session carries the landing parameters kept for it.
    await page.goto(`${allowed.origin}/cart`);
    await page.waitForFunction(() => 'ct' in window);
    expect(await track('add_to_cart')).toMatchObject({ success: true });
    const sessionId = await page.evaluate(() => sessionStorage.getItem('ct_sid'));
    const { rows } = await db.pool.query(
      `SELECT event_type, utm_source, length(utm_content) AS content, utm_term, length(gclid) AS gclid
         FROM events WHERE session_id = $1 ORDER BY event_type`,
      [sessionId],
    );
    const kept = { utm_source: 'ads', content: 256, utm_term: null, gclid: 512 };
    expect(rows).toEqual([
      { event_type: 'add_to_cart', ...kept },
      { event_type: 'page_view', ...kept },
    ]);
    await page.close();
  });

  it('answers false, without throwing in the page, for fields that cannot be sent', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${allowed.origin}/`);
    await page.waitForFunction(() => 'ct' in window);
    const answers = await page.evaluate(async () => {
      const ct = (
        window as unknown as {
          ct: {
            track(type: string, fields?: unknown): Promise<unknown>;
            beacon(type: string, fields?: unknown): boolean;
          };
        }
      ).ct;
      const cycle: Record<string, unknown> = {};
      cycle.self = cycle;
      return {
        bigint: await ct.track('purchase', { value: BigInt(1) }),
        cycle: await ct.track('purchase', cycle),
        beacon: ct.beacon('purchase', { value: BigInt(1) }),
        // Not a plain object: left out, the event sent without it.
        string: await ct.track('page_view', 'abc'),
      };
    });
    expect(answers).toMatchObject({
      bigint: false,
      cycle: false,
      beacon: false,
      string: { success: true },
    });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('sends an event answered 503 once more after its Retry-After, with the same event_id', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/`);
    await page.waitForFunction(() => 'ct' in window);
    const sent: { status: number; eventId: string }[] = [];
    await page.route('**/v1/events/track', async (route) => {
      const eventId = (JSON.parse(route.request().postData() ?? '{}') as { event_id: string })
        .event_id;
      if (sent.length > 0) {
        sent.push({ status: 200, eventId });
        return route.continue();
      }
      sent.push({ status: 503, eventId });
      await route.fulfill({
        status: 503,
        headers: {
          'Retry-After': '1',
          'Access-Control-Allow-Origin': allowed.origin,
          'Access-Control-Allow-Credentials': 'true',
          'Access-Control-Expose-Headers': 'Retry-After',
        },
        contentType: 'application/json',
        body: JSON.stringify({ success: false, error: { code: 'database_unavailable' } }),
      });
    });
    const answer = await page.evaluate(() =>
      (window as unknown as { ct: { track(type: string): Promise<unknown> } }).ct.track('sign_up'),
    );
    expect(answer).toMatchObject({ success: true, duplicate: false });
    expect(sent.map((s) => s.status)).toEqual([503, 200]);
    expect(sent[1].eventId).toBe(sent[0].eventId);
    await page.close();
  });

  it('sends what still waits for its Retry-After as a beacon when the page is left', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/`);
    await page.waitForFunction(() => 'ct' in window);
    let eventId: string | undefined;
    await page.route('**/v1/events/track', async (route) => {
      if (eventId !== undefined) return route.continue();
      eventId = (JSON.parse(route.request().postData() ?? '{}') as { event_id: string }).event_id;
      await route.fulfill({
        status: 503,
        headers: {
          'Retry-After': '30',
          'Access-Control-Allow-Origin': allowed.origin,
          'Access-Control-Allow-Credentials': 'true',
          'Access-Control-Expose-Headers': 'Retry-After',
        },
        contentType: 'application/json',
        body: JSON.stringify({ success: false, error: { code: 'database_unavailable' } }),
      });
    });
    // Not awaited: it would wait the 30 s. The page moves on once the 503 is in, which ends
    // the evaluation with the page.
    page
      .evaluate(() =>
        (window as unknown as { ct: { track(type: string): Promise<unknown> } }).ct.track(
          'purchase',
        ),
      )
      .catch(() => undefined);
    await expect.poll(() => eventId, { timeout: 5_000 }).toBeDefined();
    await page.waitForTimeout(200);
    await page.goto(`${allowed.origin}/thank-you`);
    await expect
      .poll(
        async () =>
          (await db.pool.query('SELECT 1 FROM events WHERE event_id = $1', [eventId])).rows.length,
        { timeout: 5_000 },
      )
      .toBe(1);
    await page.close();
  });

  it('stores every event of a burst larger than the 64 KB the browser lets keepalive requests hold', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/`);
    await page.waitForFunction(() => 'ct' in window);
    const visitorId = await page.evaluate(
      () => (window as unknown as { ct: { visitorId: string } }).ct.visitorId,
    );
    const answers = await page.evaluate(() => {
      const { ct } = window as unknown as {
        ct: { track(type: string, fields: object): Promise<unknown> };
      };
      return Promise.all(
        Array.from({ length: 150 }, (_, i) =>
          ct.track('view_item', { properties: { i, pad: 'p'.repeat(300) } }),
        ),
      );
    });
    expect(answers.filter((answer) => answer === false)).toEqual([]);
    const { rows } = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE visitor_id = $1 AND event_type = 'view_item'",
      [visitorId],
    );
    expect(rows[0].n).toBe(150);
    await page.close();
  });

  it('sends an event once when an answer comes that is not JSON (a proxy’s error page)', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/`);
    await page.waitForFunction(() => 'ct' in window);
    let sent = 0;
    await page.route('**/v1/events/track', async (route) => {
      sent += 1;
      await route.fulfill({
        status: 400,
        headers: {
          'Access-Control-Allow-Origin': allowed.origin,
          'Access-Control-Allow-Credentials': 'true',
        },
        contentType: 'text/html',
        body: '<html><body>Bad request</body></html>',
      });
    });
    const answer = await page.evaluate(() =>
      (window as unknown as { ct: { track(type: string): Promise<unknown> } }).ct.track('sign_up'),
    );
    expect(answer).toEqual({ success: false, status: 400 });
    await page.waitForTimeout(300);
    expect(sent).toBe(1);
    await page.close();
  });

  it('loads on a page that requires Subresource Integrity', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/with-integrity`);
    await page.waitForFunction(() => 'ct' in window, undefined, { timeout: 5_000 });
    await page.close();
  });

  it('is blocked by the browser on an origin not on the allow-list, and nothing is stored', async () => {
    const page = await browser.newPage();
    await page.goto(`${foreign.origin}/`);
    await page.waitForFunction(() => 'ct' in window);
    const visitorId = await page.evaluate(
      () => (window as unknown as { ct: { visitorId: string } }).ct.visitorId,
    );
    const direct = await page.evaluate(async () => {
      const url = document.scripts[0].src.replace('/v1/tracker.js', '/v1/events/track');
      try {
        await fetch(url, {
          method: 'POST',
          credentials: 'include',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ event_type: 'purchase', visitor_id: 'foreign-direct' }),
        });
        return 'sent';
      } catch (error) {
        return (error as Error).name;
      }
    });
    expect(direct).toBe('TypeError');
    // The tracker's fetch fails the same way and falls back to a beacon, which the service refuses.
    await page.evaluate(() =>
      (window as unknown as { ct: { track(type: string): Promise<unknown> } }).ct.track('purchase'),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await stored(visitorId)).toEqual([]);
    expect(await stored('foreign-direct')).toEqual([]);
    await page.close();
  });
});
