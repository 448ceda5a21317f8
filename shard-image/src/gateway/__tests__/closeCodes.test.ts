import { GatewayCloseCodes } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import { closeCodeHandling } from '../closeCodes.js';

describe('closeCodeHandling', () => {
  it.each([
    [4000, 'resume'],
    [4001, 'resume'],
    [4002, 'resume'],
    [4003, 'identify'],
    [4004, 'stop'],
    [4005, 'identify'],
    [4007, 'identify'],
    [4008, 'identify'],
    [4009, 'resume'],
    [4010, 'stop'],
    [4011, 'stop'],
    [4012, 'stop'],
    [4013, 'stop'],
    [4014, 'stop'],
    [1000, 'identify'],
    [1001, 'identify'],
    [1006, 'resume'],
    [4200, 'resume'],
  ] as const)('%i -> %s', (code, action) => {
    expect(closeCodeHandling(code).action).toBe(action);
  });

  it('knows every gateway close code of discord-api-types', () => {
    const codes = Object.values(GatewayCloseCodes).filter((value) => typeof value === 'number');
    expect(codes.length).toBeGreaterThanOrEqual(14);
    for (const code of codes) expect(closeCodeHandling(code).meaning).not.toBe('connection lost');
  });

  it('names the meaning of the codes that stop a shard', () => {
    expect(closeCodeHandling(4004).meaning).toMatch(/authentication failed/);
    expect(closeCodeHandling(4014).meaning).toMatch(/privileged intent/);
  });
});
