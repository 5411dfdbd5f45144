/**
 * Fastify route config marking the public, browser-facing endpoints: they get the
 * CORS allow-list and (for POSTs) the per-IP rate limit shared by the whole group.
 * Read endpoints carry neither, so they never send credentialed CORS headers.
 */
export interface PublicRouteConfig {
  publicCors?: boolean;
  rateLimited?: boolean;
}

export const PUBLIC_ENDPOINT: PublicRouteConfig = { publicCors: true, rateLimited: true };
export const PUBLIC_PREFLIGHT: PublicRouteConfig = { publicCors: true };
