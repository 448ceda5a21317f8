import { CloseCodes } from '@discordjs/ws';
import { GatewayCloseCodes } from 'discord-api-types/v10';

/** What a shard does after its socket closed with a code. */
export type CloseAction = 'resume' | 'identify' | 'stop';

/** How a close code is handled, and what it means in words for the log. */
export interface CloseCodeHandling {
  readonly action: CloseAction;
  readonly meaning: string;
}

/**
 * The one place that decides what each gateway close code means for a shard. `stop` codes
 * (4004, 4010-4014) end the shard for good: retrying cannot succeed and, for 4004, every
 * retry spends an identify. @discordjs/ws agrees (it destroys such shards without recovery);
 * the worker additionally keeps them down and reports them.
 *
 * @param code - The WebSocket close code.
 * @returns The action and the code's meaning.
 */
export function closeCodeHandling(code: number): CloseCodeHandling {
  if (!isGatewayCloseCode(code)) {
    switch (code) {
      case CloseCodes.Normal:
        return { action: 'identify', meaning: 'normal closure: the session is gone' };
      case 1001:
        return { action: 'identify', meaning: 'going away: the session is gone' };
      case CloseCodes.Resuming:
        return { action: 'resume', meaning: 'closed by the client to resume' };
      default:
        return { action: 'resume', meaning: 'connection lost' };
    }
  }
  switch (code) {
    case GatewayCloseCodes.UnknownError:
      return { action: 'resume', meaning: 'unknown error' };
    case GatewayCloseCodes.UnknownOpcode:
      return { action: 'resume', meaning: 'unknown opcode sent' };
    case GatewayCloseCodes.DecodeError:
      return { action: 'resume', meaning: 'invalid payload sent' };
    case GatewayCloseCodes.NotAuthenticated:
      return { action: 'identify', meaning: 'payload sent before identifying' };
    case GatewayCloseCodes.AuthenticationFailed:
      return { action: 'stop', meaning: 'authentication failed: DISCORD_TOKEN is invalid' };
    case GatewayCloseCodes.AlreadyAuthenticated:
      return { action: 'identify', meaning: 'identified twice' };
    case GatewayCloseCodes.InvalidSeq:
      return { action: 'identify', meaning: 'invalid seq on resume' };
    case GatewayCloseCodes.RateLimited:
      return { action: 'identify', meaning: 'gateway send rate limit exceeded' };
    case GatewayCloseCodes.SessionTimedOut:
      return { action: 'resume', meaning: 'session timed out' };
    case GatewayCloseCodes.InvalidShard:
      return { action: 'stop', meaning: 'invalid shard: SHARD_COUNT is not accepted for this bot' };
    case GatewayCloseCodes.ShardingRequired:
      return { action: 'stop', meaning: 'sharding required: too many guilds per shard, raise SHARD_COUNT' };
    case GatewayCloseCodes.InvalidAPIVersion:
      return { action: 'stop', meaning: 'invalid gateway API version' };
    case GatewayCloseCodes.InvalidIntents:
      return { action: 'stop', meaning: 'invalid intents: INTENTS holds an unknown bit' };
    case GatewayCloseCodes.DisallowedIntents:
      return {
        action: 'stop',
        meaning:
          'disallowed intents: INTENTS asks for a privileged intent the application is not approved for',
      };
    default:
      return assertNever(code);
  }
}

function isGatewayCloseCode(code: number): code is GatewayCloseCodes {
  return code in GatewayCloseCodes && typeof GatewayCloseCodes[code as GatewayCloseCodes] === 'string';
}

function assertNever(code: never): never {
  throw new RangeError(`unhandled gateway close code ${String(code)}`);
}
