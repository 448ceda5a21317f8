import { describe, expect, it } from 'vitest';
import { RouteDataCache, routeData } from '../routeData.js';

const CHANNEL = '264905529925697537';
const OTHER = '264905529925697538';
// A message id from 2015: older than 14 days.
const OLD_MESSAGE = '160000000000000000';

describe('routeData', () => {
  it.each([
    [
      'POST',
      `/channels/${CHANNEL}/messages`,
      'POST /channels/:id/messages',
      CHANNEL,
      '/channels/:id/messages',
    ],
    [
      'PATCH',
      `/channels/${CHANNEL}/messages/${OTHER}`,
      'PATCH /channels/:id/messages/:id',
      CHANNEL,
      '/channels/:id/messages/:id',
    ],
    [
      'GET',
      `/guilds/${CHANNEL}/members/${OTHER}`,
      'GET /guilds/:id/members/:id',
      CHANNEL,
      '/guilds/:id/members/:id',
    ],
    [
      'POST',
      `/webhooks/${CHANNEL}/aW50ZXJhY3Rpb246c2VjcmV0LXRva2VuLXRoYXQtaXMtbG9uZw`,
      'POST /webhooks/:id/:token',
      `${CHANNEL}/aW50ZXJhY3Rpb246c2VjcmV0LXRva2VuLXRoYXQtaXMtbG9uZw`,
      '/webhooks/:id/:token',
    ],
    [
      'PUT',
      `/channels/${CHANNEL}/messages/${OTHER}/reactions/%F0%9F%91%8D/@me`,
      'PUT /channels/:id/messages/:id/reactions/:reaction',
      CHANNEL,
      '/channels/:id/messages/:id/reactions/:reaction',
    ],
    ['GET', '/users/@me', 'GET /users/@me', 'global', '/users/@me'],
    ['GET', '/oauth2/applications/@me', 'GET /oauth2/applications/@me', 'global', '/oauth2/applications/@me'],
    ['GET', '/invites/discord-developers', 'GET /invites/discord-developers', 'global', '/invites/:code'],
  ])('files %s %s by major parameter and template', (method, path, routeId, major, template) => {
    expect(routeData(method, path)).toEqual({
      routeId,
      majorParameter: major,
      template,
      exemptFromGlobal: false,
    });
  });

  it('keeps channels apart by major parameter on one route', () => {
    const first = routeData('POST', `/channels/${CHANNEL}/messages`);
    const second = routeData('POST', `/channels/${OTHER}/messages`);
    expect(first.routeId).toBe(second.routeId);
    expect(first.majorParameter).not.toBe(second.majorParameter);
  });

  it('exempts interaction callbacks from the global limit, without their token in any label', () => {
    const route = routeData('POST', `/interactions/${CHANNEL}/aW50ZXJhY3Rpb24tdG9rZW4/callback`);
    expect(route.exemptFromGlobal).toBe(true);
    expect(route.template).toBe('/interactions/:id/:token/callback');
    expect(route.routeId).not.toContain('aW50');
  });

  it('gives deleting a message older than 14 days its own bucket, as Discord does', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(routeData('DELETE', `/channels/${CHANNEL}/messages/${OLD_MESSAGE}`, now).routeId).toBe(
      'DELETE /channels/:id/messages/:id/Delete Old Message',
    );
  });
});

describe('RouteDataCache', () => {
  it('files a path as routeData does, remembering it up to its capacity', () => {
    const cache = new RouteDataCache(2);
    const path = `/channels/${CHANNEL}/messages`;
    const first = cache.get('POST', path);
    expect(first).toEqual(routeData('POST', path));
    expect(cache.get('POST', path)).toBe(first);
    cache.get('GET', path);
    cache.get('POST', `/channels/${OTHER}/messages`);
    // Full: it started over, so the first path is filed afresh (equal, not the same object).
    expect(cache.get('POST', path)).not.toBe(first);
    expect(cache.get('POST', path)).toEqual(first);
  });

  it('files deletions afresh, as a message ages into the old-message bucket', () => {
    const cache = new RouteDataCache();
    const path = `/channels/${CHANNEL}/messages/${OTHER}`;
    expect(cache.get('DELETE', path)).not.toBe(cache.get('DELETE', path));
  });
});
