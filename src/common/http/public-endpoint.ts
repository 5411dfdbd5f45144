/**
 * Fastify route config marking the public, browser-facing endpoints: they get the
 * CORS allow-list and (for POSTs) the per-IP rate limit shared by the whole group.
 * Read endpoints carry neither, so they never send credentialed CORS headers.
 */
export interface PublicRouteConfig {
  publicCors?: boolean;
  rateLimit?: { groupId: string };
}

export const PUBLIC_ENDPOINT: PublicRouteConfig = { publicCors: true, rateLimit: { groupId: 'public' } };
export const PUBLIC_PREFLIGHT: PublicRouteConfig = { publicCors: true };
