import { describe, expect, it } from 'vitest';
import { useAppFixture } from './support/app-fixture';

describe('GET /v1/tracker.js', () => {
  const fixture = useAppFixture();

  it('serves a small cacheable script, loadable from other origins, revalidated by ETag', async () => {
    const response = await fixture.http().get('/v1/tracker.js').expect(200);
    expect(response.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(response.headers['cache-control']).toBe('public, max-age=3600');
    expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin');
    const size = Buffer.byteLength(response.text);
    expect(size).toBeGreaterThan(500);
    expect(size).toBeLessThan(5 * 1024); // README: "5 KB"
    expect(response.text).toContain('sendBeacon');
    const revalidate = (ifNoneMatch: string) =>
      fixture.http().get('/v1/tracker.js').set('If-None-Match', ifNoneMatch);
    await revalidate(response.headers.etag).expect(304);
    // As caches and browsers send it: weak, in a list, or any.
    await revalidate(`W/${response.headers.etag}`).expect(304);
    await revalidate(`"stale", ${response.headers.etag}`).expect(304);
    await revalidate('*').expect(304);
    await revalidate('"stale"').expect(200);
  });
});
