import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Headers, Res } from '@nestjs/common';
import {
  ApiHeader,
  ApiNotModifiedResponse,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

/** Shipped beside this file (nest-cli.json copies it to dist as an asset). */
const SCRIPT = readFileSync(join(__dirname, 'tracker.js'));
const ETAG = `"${createHash('sha256').update(SCRIPT).digest('base64url').slice(0, 22)}"`;

const CACHE_HEADERS = {
  ETag: { description: "The script's version tag, for If-None-Match", schema: { type: 'string' } },
  'Cache-Control': { description: '`public, max-age=3600`', schema: { type: 'string' } },
  'Access-Control-Allow-Origin': {
    description: '`*` (no credentials): any page may load it with integrity (SRI)',
    schema: { type: 'string' },
  },
} as const;

@ApiTags('tracking')
@Controller('v1')
export class TrackerController {
  /**
   * Get the browser tracker
   *
   * A dependency-free script for pages: keeps a visitor id, keeps the landing page's UTM parameters and
   * click ids for the session, and exposes `ct.track(event_type, fields)` (fetch with keepalive and
   * credentials, falling back to sendBeacon) and `ct.beacon(event_type, fields)`. Cacheable for an hour,
   * revalidated by ETag.
   */
  @Get('tracker.js')
  @ApiProduces('application/javascript')
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description: 'The ETag of a cached copy: answered 304 while it is current',
  })
  @ApiOkResponse({
    description: 'The tracker script',
    schema: { type: 'string' },
    headers: CACHE_HEADERS,
  })
  @ApiNotModifiedResponse({
    description: 'The cached copy (If-None-Match) is current',
    headers: CACHE_HEADERS,
  })
  getTracker(
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): void {
    void reply
      // Readable by any page without credentials, so a page can load it with integrity (SRI).
      .header('Access-Control-Allow-Origin', '*')
      .header('Cache-Control', 'public, max-age=3600')
      .header('ETag', ETAG)
      .header('Content-Type', 'application/javascript; charset=utf-8');
    if (matchesEtag(ifNoneMatch)) void reply.status(304).send();
    else void reply.status(200).send(SCRIPT);
  }
}

/** If-None-Match as RFC 9110 reads it: `*`, or a list of tags compared weakly (W/ ignored). */
function matchesEtag(ifNoneMatch: string | undefined): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === ETAG);
}
