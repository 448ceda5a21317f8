import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { AppliedMemo } from '../reconcile/AppliedMemo.js';
import { APPLIED_HASH_ANNOTATION } from '../reconcile/names.js';

function object(resourceVersion: string, hash?: string): KubernetesObject {
  return {
    metadata: {
      name: 'x',
      resourceVersion,
      annotations: hash === undefined ? {} : { [APPLIED_HASH_ANNOTATION]: hash },
    },
  };
}

describe('AppliedMemo', () => {
  it('is current when the cached object carries the desired hash', () => {
    expect(new AppliedMemo().isCurrent('k', 'h1', object('1', 'h1'))).toBe(true);
  });

  it.each([
    ['missing', undefined],
    ['carrying another hash', object('1', 'h0')],
    ['without a hash', object('1')],
  ])('is not current when the cached object is %s', (_what, cached) => {
    expect(new AppliedMemo().isCurrent('k', 'h1', cached)).toBe(false);
  });

  it('remembers a write until the cache shows a newer version', () => {
    const memo = new AppliedMemo();
    const stale = object('1', 'h0');
    memo.remember('k', 'h1', stale);
    // The watch event has not arrived: the cache still shows version 1, the write is remembered.
    expect(memo.isCurrent('k', 'h1', stale)).toBe(true);
    expect(memo.isCurrent('k', 'h2', stale)).toBe(false);
    // Somebody else changed it since: the cache decides again.
    expect(memo.isCurrent('k', 'h1', object('7', 'h0'))).toBe(false);
  });

  it('remembers a create until the cache has the object', () => {
    const memo = new AppliedMemo();
    memo.remember('k', 'h1', undefined);
    expect(memo.isCurrent('k', 'h1', undefined)).toBe(true);
    memo.forgetPrefix('k');
    expect(memo.isCurrent('k', 'h1', undefined)).toBe(false);
  });
});
