import type { GatewayCloseCodes } from 'discord-api-types/v10';

/** Discord's reason text of each gateway close code, sent with the close frame. */
export const CloseReason: Record<GatewayCloseCodes, string> = {
  4000: 'Unknown error.',
  4001: 'Unknown opcode.',
  4002: 'Error while decoding payload.',
  4003: 'Not authenticated.',
  4004: 'Authentication failed.',
  4005: 'Already authenticated.',
  4007: 'Invalid seq.',
  4008: 'Rate limited.',
  4009: 'Session timed out.',
  4010: 'Invalid shard.',
  4011: 'Sharding required.',
  4012: 'Invalid API version.',
  4013: 'Invalid intent(s).',
  4014: 'Disallowed intent(s).',
};

/** Codes after which Discord forgets the session: the client cannot resume. */
export function closeEndsSession(code: number): boolean {
  return code === 1000 || code === 1001 || (code >= 4003 && code !== 4009 && code < 4200);
}
