import { describe, expect, it } from 'vitest';
import { checkSpec } from '../reconcile/guards.js';

const spec = { tokenSecretRef: { name: 'mybot-token' }, redis: { url: 'redis://redis:6379' } };

describe('checkSpec', () => {
  it('accepts a valid bot', () => {
    expect(checkSpec('mybot', spec).ok).toBe(true);
  });

  it.each([
    ['a name too long for its children', 'a'.repeat(46), spec, /^metadata\.name: /],
    ['a name starting with a digit (no Service name)', '1bot', spec, /^metadata\.name: /],
    ['an unknown intent', 'mybot', { ...spec, intents: ['Guilds', 'Nope'] }, /^spec\.intents: .*"Nope"/],
    ['two problems at once', 'a'.repeat(46), { ...spec, redis: {} }, /^metadata\.name: .*; spec\.redis: /],
  ])('refuses %s, naming the field', (_what, name, input, message) => {
    const result = checkSpec(name, input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });
});
